"""`python -m bot` as its own process, configured for the local fakes: how the fault tests drive the real bot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def bot_env(tmp_path: Path, telegram=None, discord=None, **extra: str) -> dict[str, str]:
    """The environment for a bot on `tmp_path`'s database, talking to the given fakes only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "WEB_"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_PATH=str(tmp_path / "bot.sqlite3"), LOG_LEVEL="INFO")
    if telegram is not None:
        from tests.fake_telegram import TOKEN

        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=telegram.base_url,
            TELEGRAM_FILE_BASE_URL=telegram.file_base_url,
        )
    if discord is not None:
        from tests.fake_discord import TOKEN

        env.update(DISCORD_BOT_TOKEN=TOKEN, DISCORD_API_BASE_URL=discord.api_url, DISCORD_SHARDED="1")
    env.update(extra)
    return env


async def start_bot(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(process: asyncio.subprocess.Process, text: str, timeout: float = 60) -> str:
    """The process's log up to the first line holding `text` (e.g. that an adapter is ready)."""
    lines = []
    while not lines or text not in lines[-1]:
        line = await asyncio.wait_for(process.stderr.readline(), timeout)
        assert line, "the bot stopped before logging " + repr(text) + ":\n" + "".join(lines)
        lines.append(line.decode())
    return "".join(lines)


async def finish(process: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str]:
    """Wait for the process to end on its own; its status and everything it printed."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, stdout.decode() + stderr.decode()
