"""Faults between the bot and the chat APIs, against the real `python -m bot` process (issue 14).

A stopped adapter says why in one line and in `--check`; a process with no chat
adapter left exits with status 3 for systemd to restart; no output ever holds a token.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.bot_process import bot_env, finish, start_bot
from tests.conftest import FIXTURES
from tests.fake_discord import TOKEN as DISCORD_TOKEN
from tests.fake_discord import FakeDiscord
from tests.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.fake_telegram import FakeTelegram

PHOTO = sorted(FIXTURES.glob("*-*.jpg"))[0]


def assert_clean(output: str) -> None:
    assert TELEGRAM_TOKEN not in output and DISCORD_TOKEN not in output, output
    assert "Traceback" not in output and "Unclosed" not in output, output


async def check(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    return await finish(await start_bot(env, cwd, "--check"))


async def test_a_token_rejected_mid_run_stops_the_process(tmp_path: Path) -> None:
    """python-telegram-bot ends its polling loop on one 404 to getUpdates; the bot must not live on deaf."""
    telegram = FakeTelegram()
    await telegram.start()
    try:
        process = await start_bot(bot_env(tmp_path, telegram), tmp_path)
        await telegram.push(telegram.photo_message(7, PHOTO.read_bytes()))
        await telegram.wait_for(lambda: telegram.replies_to(7), timeout=60)
        telegram.inject_error("getUpdates", 404, "Not Found")
        await telegram.push(telegram.message(7, text="wake the long poll"))
        status, output = await finish(process)
    finally:
        await telegram.stop()
    assert status == 3, output
    assert "telegram is not receiving: TELEGRAM_BOT_TOKEN was rejected by Telegram" in output
    assert_clean(output)


async def test_a_wrong_token_at_start_names_the_variable(tmp_path: Path) -> None:
    telegram = FakeTelegram()
    await telegram.start()
    wrong = "123456:WRONG-token-that-must-not-be-printed"
    try:
        status, output = await finish(await start_bot(bot_env(tmp_path, telegram, TELEGRAM_BOT_TOKEN=wrong), tmp_path))
    finally:
        await telegram.stop()
    assert status == 3, output
    assert "TELEGRAM_BOT_TOKEN was rejected by Telegram" in output
    assert wrong not in output and "WRONG-token" not in output
    assert_clean(output)


async def test_an_unreachable_api_at_start_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    telegram = FakeTelegram()
    env = bot_env(tmp_path, telegram, TELEGRAM_STARTUP_PATIENCE_SECONDS="2")
    env.update(TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed}/bot", TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN)
    status, output = await finish(await start_bot(env, tmp_path))
    assert status == 3, output
    assert output.count("trying again") >= 2, output
    assert "Telegram's Bot API did not answer for" in output and "TELEGRAM_API_BASE_URL" in output
    assert_clean(output)


async def test_one_platform_down_the_other_serves_and_check_says_which(tmp_path: Path) -> None:
    """Discord's token revoked mid-session (close 4004): Telegram keeps answering, `--check` fails naming Discord."""
    telegram, discord_fake = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord_fake.start()
    env = bot_env(tmp_path, telegram, discord_fake)
    try:
        process = await start_bot(env, tmp_path)
        await asyncio.wait_for(discord_fake.identified.wait(), 60)
        await telegram.push(telegram.photo_message(7, PHOTO.read_bytes()))
        await telegram.wait_for(lambda: telegram.replies_to(7), timeout=60)
        status, report = await check(env, tmp_path)
        assert status == 0 and "discord: receiving" in report and "telegram: receiving" in report, report

        await discord_fake.close_gateway(4004)
        for _ in range(600):  # --check polls the database the running bot writes; each run takes ~1 s
            status, report = await check(env, tmp_path)
            if "NOT receiving" in report:
                break
        assert status == 1, report
        assert "discord: NOT receiving: DISCORD_BOT_TOKEN was rejected by Discord (4004)" in report
        assert "telegram: receiving" in report

        await telegram.push(telegram.photo_message(8, PHOTO.read_bytes()))
        await telegram.wait_for(lambda: telegram.replies_to(8), timeout=60)
        assert PHOTO.name.split("-")[0] in telegram.replies_to(8)[0]["text"]

        telegram.inject_error("getUpdates", 401, "Unauthorized")
        await telegram.push(telegram.message(7, text="wake the long poll"))
        status, output = await finish(process)
    finally:
        await telegram.stop()
        await discord_fake.stop()
    assert status == 3, output
    assert "discord is not receiving" in output and "telegram is not receiving" in output
    assert_clean(output)
    status, report = await check(env, tmp_path)
    assert "telegram: not running (last run: TELEGRAM_BOT_TOKEN was rejected" in report, report


async def test_an_unopenable_database_gets_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    env = bot_env(tmp_path, DATABASE_PATH=str(tmp_path / "file" / "bot.sqlite3"))
    status, output = await finish(await start_bot(env, tmp_path))
    assert status == 2, output
    assert "database error: cannot open DATABASE_PATH" in output
    assert_clean(output)
