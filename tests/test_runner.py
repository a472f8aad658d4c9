"""bot/runner.py: `python -m bot` serves every configured platform (the web page when none is), and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.runner import ADAPTERS_DOWN, Supervisor
from storage import adapter_state
from tests.support.bot_process import ROOT, bot_env, free_port, start_bot
from tests.support.fake_discord import TOKEN as DISCORD_TOKEN
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.support.fake_telegram import FakeTelegram
from tests.support.photos import FIXTURES


def test_with_no_chat_token_it_serves_the_page_and_says_where(tmp_path: Path) -> None:
    import urllib.request

    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "WEB_"))}
    env = {**base, "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(tmp_path / "db.sqlite3"), "WEB_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == f"Try it in a browser: http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200 and b"Hashtags for a photo" in page.read()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "serving the web page only" in errors


@pytest.mark.parametrize("adapters", [("telegram",), ("discord",), ("telegram", "discord")], ids="+".join)
async def test_runner_serves_configured_adapters_and_stops_cleanly_on_sigterm(
    adapters, tmp_path: Path, telegram_fake: FakeTelegram, discord_fake: FakeDiscord
) -> None:
    """The real runner in its own process, against the local fakes; SIGTERM loses no log row."""
    import signal
    import sqlite3

    env = bot_env(
        tmp_path,
        telegram_fake if "telegram" in adapters else None,
        discord_fake if "discord" in adapters else None,
    )
    photo = sorted(FIXTURES.glob("*-*.jpg"))[0]
    process = await start_bot(env, tmp_path)
    if "telegram" in adapters:
        await telegram_fake.push(telegram_fake.photo_message(7, photo.read_bytes()))
        await telegram_fake.wait_for(lambda: telegram_fake.replies_to(7), timeout=60)
        assert photo.name.split("-")[0] in telegram_fake.replies_to(7)[0]["text"]
        assert [c["command"] for c in telegram_fake.commands][:2] == ["start", "help"], "the command menu is set"
    if "discord" in adapters:
        await discord_fake.ask_for_hashtags(8, photo.read_bytes())
    process.send_signal(signal.SIGTERM)
    status, log = await process.finish()
    assert status == 0, log
    assert "stopped" in log
    assert TELEGRAM_TOKEN not in log and DISCORD_TOKEN not in log
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        platforms = sorted(row[0] for row in db.execute("SELECT platform FROM requests WHERE outcome = 'ok'"))
    assert platforms == sorted(adapters)


class Platform:
    """A chat platform as the runner sees it (`bot.runner.Adapter`): its start fails while `failures` are left."""

    chat = True

    def __init__(self, name: str, failures: list[BaseException], receiving: asyncio.Event) -> None:
        self.name, self.failures, self.receiving = name, failures, receiving
        self.running: asyncio.Task | None = None
        self.stopped = 0

    async def start(self) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.receiving.set()

    async def stop(self) -> None:
        self.stopped += 1

    @staticmethod
    def describe(error: BaseException) -> str:
        return f"it failed ({type(error).__name__})"

    @staticmethod
    def retryable(error: BaseException) -> bool:
        return not isinstance(error, PermissionError)


def maker(name: str, failures: list[BaseException], made: list[Platform]) -> tuple[asyncio.Event, Callable]:
    """Makes `name`'s adapters, which share `failures` (a new one is a restart); set once one starts."""
    receiving = asyncio.Event()

    def make() -> Platform:
        made.append(Platform(name, failures, receiving))
        return made[-1]

    return receiving, make


async def test_a_platform_that_failed_to_start_is_started_again_while_another_serves(pipeline) -> None:
    made: list[Platform] = []
    _, steady = maker("steady", [], made)
    receiving, flaky = maker("flaky", [ConnectionError(), ConnectionError()], made)
    supervisor = Supervisor(pipeline, {"steady": steady, "flaky": flaky}, first_retry=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop, []))
    await asyncio.wait_for(receiving.wait(), 10)
    states = {s.name: (s.receiving, s.detail) for s in await adapter_state.states(pipeline.db)}
    stop.set()
    assert await running == 0
    await supervisor.close()
    assert [m.name for m in made] == ["steady", "flaky", "flaky", "flaky"], "each failed start made anew"
    assert all(m.stopped == 1 for m in made)
    assert states == {"steady": (True, "receiving"), "flaky": (True, "receiving")}


async def test_with_no_chat_platform_left_the_process_ends_with_status_3(pipeline) -> None:
    """A token refused is not retried; and a lone platform is not waited for: systemd starts the bot again."""
    made: list[Platform] = []
    _, refused = maker("refused", [PermissionError()], made)
    supervisor = Supervisor(pipeline, {"refused": refused}, first_retry=0.01)
    assert await asyncio.wait_for(supervisor.run(asyncio.Event(), []), 10) == ADAPTERS_DOWN
    await supervisor.close()
    (state,) = await adapter_state.states(pipeline.db)
    assert len(made) == 1 and not state.receiving and state.detail == "it failed (PermissionError)"
