"""bot/runner.py: `python -m bot` serves every configured platform (the web page when none is), and stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
