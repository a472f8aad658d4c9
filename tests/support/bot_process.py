"""`python -m bot` as its own process, configured for the local fakes: how the fault tests drive the real bot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STARTED: list[BotProcess] = []  # every bot a test started; conftest kills those a failed test left running


def bot_env(tmp_path: Path, telegram=None, discord=None, **extra: str) -> dict[str, str]:
    """The environment for a bot on `tmp_path`'s database, talking to the given fakes only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "WEB_", "DATABASE_"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(tmp_path / "bot.sqlite3"), LOG_LEVEL="INFO")
    if telegram is not None:
        from tests.support.fake_telegram import TOKEN

        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=telegram.base_url,
            TELEGRAM_FILE_BASE_URL=telegram.file_base_url,
            TELEGRAM_POLL_TIMEOUT_SECONDS="1",  # a stop waits for the poll in flight: 1 s, not 10
        )
    if discord is not None:
        from tests.support.fake_discord import TOKEN

        env.update(
            DISCORD_BOT_TOKEN=TOKEN,
            DISCORD_API_BASE_URL=discord.api_url,
            DISCORD_GATEWAY_URL=discord.ws_url,
            DISCORD_SHARDED="1",
        )
    env.update(extra)
    return env


class BotProcess:
    """A running `python -m bot` whose output (stdout and stderr, merged) is read as it comes, so a
    chatty bot never blocks on a full pipe; `read_until` waits for a line, `finish` for the end."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for line in self.process.stdout:
            async with self._changed:
                self.lines.append(line.decode())
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("")  # the end
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def read_until(self, text: str, timeout: float = 60) -> str:
        """The output up to the first line holding `text` (e.g. that an adapter is ready)."""

        def seen() -> bool:
            assert self.lines[-1:] != [""], f"the bot stopped before logging {text!r}:\n{self.output}"
            return any(text in line for line in self.lines)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(seen), timeout)
        return self.output

    def send_signal(self, signal: int) -> None:
        self.process.send_signal(signal)

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()
        await self._reader

    async def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the process to end on its own; its status and everything it printed."""
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        finally:
            if self.process.returncode is None:
                await self.kill()
        await self._reader
        return self.process.returncode, self.output


async def start_bot(env: dict[str, str], cwd: Path, *args: str) -> BotProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    STARTED.append(BotProcess(process))
    return STARTED[-1]


def kill_leftovers() -> None:
    """Kill the bots a failed test left running: one stray bot polled a fake for the rest of the run (and after)."""
    while STARTED:
        bot = STARTED.pop()
        if bot.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bot.process.pid, signal.SIGKILL)


async def until(condition, timeout: float = 60) -> None:
    """Wait for a condition another process brings about (its database), checking every 20 ms."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 nothing listens on, all different (each held until all are chosen)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (for a bot's webhook, or one that stays closed)."""
    return free_ports(1)[0]


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m bot ARGS` run to its end (--console, --check), without this machine's tokens or database."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {}), "PYTHONPATH": str(ROOT)},
        cwd=cwd,
    )
