"""Faults between the bot and the chat APIs, against the real `python -m bot` process (issue 14).

A stopped adapter says why in one line and in `--check`; a process with no chat
adapter left exits with status 3 for systemd to restart; no output ever holds a token.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.support.bot_process import bot_env, free_port, start_bot, until
from tests.support.fake_discord import TOKEN as DISCORD_TOKEN
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.support.fake_telegram import FakeTelegram
from tests.support.photos import FIXTURES

PHOTO = sorted(FIXTURES.glob("*-*.jpg"))[0]


def assert_clean(output: str) -> None:
    assert TELEGRAM_TOKEN not in output and DISCORD_TOKEN not in output, output
    assert "Traceback" not in output and "Unclosed" not in output, output


async def check(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    return await (await start_bot(env, cwd, "--check")).finish()


async def test_a_token_rejected_mid_run_stops_the_process(tmp_path: Path, telegram_fake: FakeTelegram) -> None:
    """python-telegram-bot ends its polling loop on one 404 to getUpdates; the bot must not live on deaf."""
    process = await start_bot(bot_env(tmp_path, telegram_fake), tmp_path)
    await telegram_fake.push(telegram_fake.photo_message(7, PHOTO.read_bytes()))
    await telegram_fake.wait_for(lambda: telegram_fake.replies_to(7), timeout=60)
    telegram_fake.inject_error("getUpdates", 404, "Not Found")
    await telegram_fake.push(telegram_fake.message(7, text="wake the long poll"))
    status, output = await process.finish()
    assert status == 3, output
    assert "telegram is not receiving: TELEGRAM_BOT_TOKEN was rejected by Telegram" in output
    assert_clean(output)


async def test_a_wrong_token_at_start_names_the_variable(tmp_path: Path, telegram_fake: FakeTelegram) -> None:
    wrong = "123456:WRONG-token-that-must-not-be-printed"
    process = await start_bot(bot_env(tmp_path, telegram_fake, TELEGRAM_BOT_TOKEN=wrong), tmp_path)
    status, output = await process.finish()
    assert status == 3, output
    assert "TELEGRAM_BOT_TOKEN was rejected by Telegram" in output
    assert wrong not in output and "WRONG-token" not in output
    assert_clean(output)


async def test_an_unreachable_api_at_start_is_retried_then_reported(tmp_path: Path) -> None:
    closed = free_port()
    telegram = FakeTelegram()
    env = bot_env(tmp_path, telegram, TELEGRAM_STARTUP_PATIENCE_SECONDS="2")
    env.update(TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed}/bot", TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN)
    status, output = await (await start_bot(env, tmp_path)).finish()
    assert status == 3, output
    assert output.count("trying again") >= 2, output
    assert "Telegram's Bot API did not answer for" in output and "TELEGRAM_API_BASE_URL" in output
    assert_clean(output)


async def test_one_platform_down_the_other_serves_and_check_says_which(
    tmp_path: Path, telegram_fake: FakeTelegram, discord_fake: FakeDiscord
) -> None:
    """Discord's token revoked mid-session (close 4004): Telegram keeps answering, `--check` fails naming Discord."""
    env = bot_env(tmp_path, telegram_fake, discord_fake)
    process = await start_bot(env, tmp_path)
    await asyncio.wait_for(discord_fake.identified.wait(), 60)
    await telegram_fake.push(telegram_fake.photo_message(7, PHOTO.read_bytes()))
    await telegram_fake.wait_for(lambda: telegram_fake.replies_to(7), timeout=60)
    status, report = await check(env, tmp_path)
    assert status == 0 and "discord: receiving" in report and "telegram: receiving" in report, report

    await discord_fake.close_gateway(4004)
    for _ in range(60):  # --check reads the database the running bot writes; each run takes ~1 s
        status, report = await check(env, tmp_path)
        if "NOT receiving" in report:
            break
    assert status == 1, report
    assert "discord: NOT receiving: DISCORD_BOT_TOKEN was rejected by Discord (4004)" in report
    assert "telegram: receiving" in report

    await telegram_fake.push(telegram_fake.photo_message(8, PHOTO.read_bytes()))
    await telegram_fake.wait_for(lambda: telegram_fake.replies_to(8), timeout=60)
    assert PHOTO.name.split("-")[0] in telegram_fake.replies_to(8)[0]["text"]

    telegram_fake.inject_error("getUpdates", 401, "Unauthorized")
    await telegram_fake.push(telegram_fake.message(7, text="wake the long poll"))
    status, output = await process.finish()
    assert status == 3, output
    assert "discord is not receiving" in output and "telegram is not receiving" in output
    assert_clean(output)
    status, report = await check(env, tmp_path)
    assert "telegram: not running (last run: TELEGRAM_BOT_TOKEN was rejected" in report, report
    assert "discord: not running (last run: DISCORD_BOT_TOKEN was rejected by Discord (4004)" in report, report


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_an_unopenable_database_gets_one_line(tmp_path: Path, engine: str) -> None:
    """A DATABASE_PATH that is not a folder, or a DATABASE_URL nothing answers at: one line, exit 2."""
    (tmp_path / "file").write_text("not a folder")
    env = bot_env(tmp_path, DATABASE_PATH=str(tmp_path / "file" / "bot.sqlite3"))
    if engine == "postgresql":
        env["DATABASE_URL"] = f"postgresql://bot:pg-password-value@127.0.0.1:{free_port()}/bot"
    status, output = await (await start_bot(env, tmp_path)).finish()
    assert status == 2, output
    expected = "cannot open DATABASE_PATH" if engine == "sqlite" else "cannot reach DATABASE_URL (127.0.0.1:"
    assert (f"database error: {expected}" in output and "Connection refused" in output) or engine == "sqlite"
    assert "pg-password-value" not in output
    assert_clean(output)


async def test_a_crash_loses_no_photo_and_answers_none_twice(tmp_path: Path, telegram_fake: FakeTelegram) -> None:
    """kill -9 with 40 of 50 photos in flight (Telegram stuck after 10 answers); after the restart every photo
    is answered exactly once and logged once: received updates were in the database before Telegram was told."""
    import signal
    import sqlite3

    env = bot_env(tmp_path, telegram_fake)
    chats = range(3000, 3050)
    database = tmp_path / "bot.sqlite3"

    def answered() -> int:
        with contextlib.closing(sqlite3.connect(database)) as db:
            return db.execute("SELECT count(*) FROM inbox WHERE answered_at IS NOT NULL").fetchone()[0]

    telegram_fake.hold_after("sendMessage", 10)
    process = await start_bot(env, tmp_path)
    for chat in chats:
        await telegram_fake.push(telegram_fake.photo_message(chat, PHOTO.read_bytes()))
    await telegram_fake.wait_for(lambda: len(telegram_fake.sent) == 10 and telegram_fake.holding > 0, timeout=120)
    await until(lambda: answered() == 10)
    await process.kill()
    telegram_fake.release()

    process = await start_bot(env, tmp_path)
    await telegram_fake.wait_for(lambda: all(telegram_fake.replies_to(chat) for chat in chats), timeout=180)
    process.send_signal(signal.SIGTERM)
    status, output = await process.finish()
    assert status == 0, output
    assert "answering" in output and "never answered" in output
    assert {chat: len(telegram_fake.replies_to(chat)) for chat in chats} == dict.fromkeys(chats, 1)
    assert all(PHOTO.name.split("-")[0] in telegram_fake.replies_to(chat)[0]["text"] for chat in chats)
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT chat_id, outcome FROM requests").fetchall()
    assert sorted(rows) == sorted((str(chat), "ok") for chat in chats)


async def test_discord_commands_deferred_at_a_crash_are_answered_after_the_restart(
    tmp_path: Path, discord_fake: FakeDiscord
) -> None:
    """kill -9 with 20 deferred /hashtags (the CDN stuck, so none answered): after the restart each gets its
    answer once, through its interaction's webhook, and the inbox keeps no interaction token."""
    import signal
    import sqlite3

    env = bot_env(tmp_path, discord=discord_fake)
    discord_fake.cdn_open.clear()
    process = await start_bot(env, tmp_path)
    await asyncio.wait_for(discord_fake.identified.wait(), 90)
    interactions = []
    for user in range(20):
        attachment = discord_fake.attachment(PHOTO.read_bytes())
        option = [{"name": "image", "type": 11, "value": attachment["id"]}]
        interactions.append(await discord_fake.slash(700 + user, "hashtags", option, [attachment]))
    await discord_fake.wait_for(lambda: discord_fake.cdn_waiting == 20, timeout=60)
    await process.kill()
    discord_fake.cdn_open.set()
    assert not any(discord_fake.responses_to(i)[1] for i in interactions), "nothing answered before the crash"

    process = await start_bot(env, tmp_path)
    await discord_fake.wait_for(lambda: all(discord_fake.responses_to(i)[1] for i in interactions), timeout=120)
    process.send_signal(signal.SIGTERM)
    status, output = await process.finish()
    assert status == 0, output
    assert "answering 20 Discord command(s) a stopped process never answered" in output
    followups = [discord_fake.responses_to(i)[1] for i in interactions]
    assert [len(sent) for sent in followups] == [1] * 20, "each answered once"
    assert all(PHOTO.name.split("-")[0] in sent[0]["content"] and "#" in sent[0]["content"] for sent in followups)
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM inbox WHERE payload IS NOT NULL").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM requests WHERE outcome = 'ok'").fetchone()[0] == 20
    assert_clean(output)


async def test_photos_telegram_gives_slowly_are_answered_and_a_lost_one_is_explained(
    tmp_path: Path, telegram_fake: FakeTelegram
) -> None:
    """getFile answering after 7 s, a download after 7 s (each past the 5 s read timeout, as on a bad day):
    both retried and answered; a file Telegram no longer has (a 404): "send it again", not an apology."""
    process = await start_bot(bot_env(tmp_path, telegram_fake), tmp_path)
    await process.read_until("telegram adapter running")
    telegram_fake.inject_delay("getFile", 7)
    telegram_fake.file_delays.append(7)
    lost = telegram_fake.photo_message(3, PHOTO.read_bytes())
    telegram_fake.gone |= {size["file_id"] for size in lost["photo"]}
    for user in (1, 2):
        await telegram_fake.push(telegram_fake.photo_message(user, PHOTO.read_bytes()))
    await telegram_fake.push(lost)
    await telegram_fake.wait_for(lambda: all(telegram_fake.replies_to(user) for user in (1, 2, 3)), timeout=60)
    await process.kill()
    for user in (1, 2):
        assert "#" in telegram_fake.replies_to(user)[0]["text"], telegram_fake.replies_to(user)
    assert "could not give me this photo" in telegram_fake.replies_to(3)[0]["text"]
    assert "Sorry" not in " ".join(m["text"] for user in (1, 2, 3) for m in telegram_fake.replies_to(user))
    assert "timed out; trying again" in process.output
    assert_clean(process.output)


async def test_the_webhook_answers_telegram_only_once_the_update_is_recorded(
    tmp_path: Path, telegram_fake: FakeTelegram
) -> None:
    import signal
    import sqlite3

    import aiohttp

    port = free_port()
    secret = "hook-secret-for-tests"
    env = bot_env(
        tmp_path,
        telegram_fake,
        TELEGRAM_WEBHOOK_URL="https://bot.example",
        TELEGRAM_WEBHOOK_PORT=str(port),
        TELEGRAM_WEBHOOK_SECRET=secret,
    )
    update = {"update_id": 900, "message": telegram_fake.photo_message(7, PHOTO.read_bytes())}
    hello = {"update_id": 901, "message": telegram_fake.message(7, text="hello")}
    process = await start_bot(env, tmp_path)
    before = await process.read_until("telegram adapter running (webhook)")
    assert (
        telegram_fake.webhook["url"] == "https://bot.example/telegram"
        and telegram_fake.webhook["secret_token"] == secret
    )
    async with aiohttp.ClientSession() as session:

        async def deliver(body: dict) -> int:
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with session.post(f"http://127.0.0.1:{port}/telegram", json=body, headers=headers) as response:
                return response.status

        assert await deliver(update) == 200
        with contextlib.closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as db:
            assert db.execute("SELECT update_id FROM inbox").fetchall() == [(900,)]
        await telegram_fake.wait_for(lambda: telegram_fake.replies_to(7), timeout=60)
        assert await deliver(update) == 200, "Telegram delivers again when it missed our answer"
        assert await deliver(hello) == 200
        await telegram_fake.wait_for(lambda: len(telegram_fake.replies_to(7)) == 2, timeout=60)
    process.send_signal(signal.SIGTERM)
    status, output = await process.finish()
    assert status == 0, before + output
    first, second = telegram_fake.replies_to(7)
    assert PHOTO.name.split("-")[0] in first["text"] and second["text"].startswith("Send me a photo")
    assert secret not in before + output


async def test_a_discord_gateway_down_at_start_is_retried_while_telegram_serves(
    tmp_path: Path, telegram_fake: FakeTelegram, discord_fake: FakeDiscord
) -> None:
    """Discord recovers by itself and Telegram answers meanwhile. (The sharded client, the one a separate
    process can point at the fake gateway; test_discord.py has the plain client's case.)"""
    import signal

    discord_fake.gateway_down = 1
    env = bot_env(tmp_path, telegram_fake, discord_fake)
    process = await start_bot(env, tmp_path)
    await telegram_fake.push(telegram_fake.photo_message(7, PHOTO.read_bytes()))
    await telegram_fake.wait_for(lambda: telegram_fake.replies_to(7), timeout=60)
    interaction = await discord_fake.ask_for_hashtags(8, PHOTO.read_bytes())
    status, report = await check(env, tmp_path)
    assert status == 0 and "discord: receiving" in report, report
    process.send_signal(signal.SIGTERM)
    status, output = await process.finish()
    assert status == 0, output
    assert PHOTO.name.split("-")[0] in discord_fake.responses_to(interaction)[1][0]["content"]
    assert TELEGRAM_TOKEN not in output and DISCORD_TOKEN not in output


async def test_telegram_unreachable_at_start_is_retried_while_discord_serves(
    tmp_path: Path, discord_fake: FakeDiscord
) -> None:
    """With another platform serving, a platform that failed for a reason that can pass is started again."""
    import signal

    port = free_port()
    telegram = FakeTelegram()  # started once the bot has found it unreachable
    env = bot_env(tmp_path, None, discord_fake, TELEGRAM_STARTUP_PATIENCE_SECONDS="0", ADAPTER_RETRY_SECONDS="1")
    env.update(
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot",
        TELEGRAM_FILE_BASE_URL=f"http://127.0.0.1:{port}/file/bot",
    )
    try:
        process = await start_bot(env, tmp_path)
        before = await process.read_until("telegram is not receiving")
        assert "trying again in 1 s" in next(line for line in before.splitlines() if "is not receiving" in line)
        await discord_fake.ask_for_hashtags(8, PHOTO.read_bytes())

        await telegram.start(port)  # Telegram is back
        await telegram.push(telegram.photo_message(7, PHOTO.read_bytes()))
        await telegram.wait_for(lambda: telegram.replies_to(7), timeout=120)
        status, report = await check(env, tmp_path)
        assert status == 0 and "telegram: receiving" in report and "discord: receiving" in report, report
        process.send_signal(signal.SIGTERM)
        status, output = await process.finish()
    finally:
        await telegram.stop()
    assert status == 0, before + output
    assert PHOTO.name.split("-")[0] in telegram.replies_to(7)[0]["text"]
    assert_clean(before + output)


async def test_check_asks_each_platform_whether_it_takes_the_token(
    tmp_path: Path, telegram_fake: FakeTelegram, discord_fake: FakeDiscord
) -> None:
    env = bot_env(tmp_path, telegram_fake, discord_fake)
    wrong = {**env, "TELEGRAM_BOT_TOKEN": "123:wrong-telegram-token", "DISCORD_BOT_TOKEN": "wrong.discord.token"}
    status, report = await check(env, tmp_path)
    assert status == 0, report
    assert "telegram: token accepted (@hashtag_test_bot)" in report
    assert "discord: token accepted (hashtags)" in report
    status, report = await check(wrong, tmp_path)
    assert status == 1
    assert "telegram: TELEGRAM_BOT_TOKEN was rejected by Telegram" in report
    assert "discord: DISCORD_BOT_TOKEN was rejected by Discord (401)" in report
    assert "wrong-telegram-token" not in report and "wrong.discord.token" not in report
    await telegram_fake.stop()
    await discord_fake.stop()
    status, report = await check(env, tmp_path)  # both platforms gone
    assert status == 1 and "telegram: cannot reach TELEGRAM_API_BASE_URL" in report
    assert "discord: cannot reach DISCORD_API_BASE_URL" in report and TELEGRAM_TOKEN not in report
