"""`python -m bot`: configuration errors, console mode, no chat token (the web page), secrets kept out of logs."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.logs import setup_logging
from tests.bot_process import free_port
from tests.conftest import FIXTURES

ROOT = Path(__file__).parent.parent


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {}), "PYTHONPATH": str(ROOT)},
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FLOOD_PHOTOS": "many"}, "FLOOD_PHOTOS"),
        ({"DEFAULT_TAG_COUNT": "50"}, "DEFAULT_TAG_COUNT"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"MODEL_DIR": "/nonexistent"}, "MODEL_DIR"),
        ({"TELEGRAM_WEBHOOK_URL": "http://plain.example"}, "TELEGRAM_WEBHOOK_URL"),
        ({"CONFIDENCE_THRESHOLD": "2"}, "CONFIDENCE_THRESHOLD"),
        ({"TELEGRAM_CONCURRENT_UPDATES": "0"}, "TELEGRAM_CONCURRENT_UPDATES"),
        ({"TELEGRAM_ALBUM_WAIT_SECONDS": "0"}, "TELEGRAM_ALBUM_WAIT_SECONDS"),
        ({"TELEGRAM_POLL_TIMEOUT_SECONDS": "60"}, "TELEGRAM_POLL_TIMEOUT_SECONDS"),
        ({"DATABASE_URL": "mysql://db.example/bot"}, "DATABASE_URL"),
        ({"DISCORD_SHARD_IDS": "0,1"}, "DISCORD_SHARD_IDS"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "DISCORD_SHARD_IDS"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_config(env, env_file=None)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_IDS=1,2\nDEFAULT_TAG_COUNT=7\n")
    config = load_config({"DEFAULT_TAG_COUNT": "9"}, env_file=env_file)
    assert config.admin_ids == {1, 2} and config.default_tag_count == 9


def test_secrets_are_not_in_repr_or_logs() -> None:
    token = "987654321:TESTONLY-not-a-real-token"
    environment = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_WEBHOOK_SECRET": "hook-secret-value",
        "DATABASE_URL": "postgresql://bot:pg-password-value@db.example/bot",
    }
    config = load_config(environment, env_file=None)
    assert token not in repr(config) and "pg-password-value" not in repr(config)
    stream = io.StringIO()
    setup_logging(config, stream)
    logging.getLogger("httpx").warning("POST https://api.telegram.org/bot%s/getMe", token)
    try:
        raise RuntimeError(f"bad url https://api.telegram.org/bot{token}/x hook-secret-value pg-password-value")
    except RuntimeError:
        logging.getLogger("telegram").exception("failed")
    from telegram.error import InvalidToken

    sys.excepthook(InvalidToken, InvalidToken(f"Invalid token {token}"), None)  # what escaped asyncio.run before
    text = stream.getvalue()
    assert "getMe" in text and "failed" in text and "uncaught exception" in text
    assert token not in text and "hook-secret-value" not in text and "pg-password-value" not in text


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


def test_console_prints_what_the_bot_would_answer(tmp_path: Path) -> None:
    photo = sorted(FIXTURES.glob("*-*.jpg"))[0]
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = run_bot("--console", str(photo), str(bad), env={"DATABASE_PATH": str(tmp_path / "db.sqlite3")})
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("📷 " + photo.name.split("-")[0])
    assert lines[2].startswith("#") and len(lines[2].split()) == 5
    assert "not an image" in result.stdout


@pytest.mark.parametrize("adapters", [("telegram",), ("discord",), ("telegram", "discord")], ids="+".join)
async def test_runner_serves_configured_adapters_and_stops_cleanly_on_sigterm(adapters, tmp_path: Path) -> None:
    """The real runner in its own process, against the local fakes; SIGTERM loses no log row."""
    import signal
    import sqlite3

    from tests.bot_process import bot_env, start_bot
    from tests.fake_discord import TOKEN as DISCORD_TOKEN
    from tests.fake_discord import FakeDiscord
    from tests.fake_telegram import TOKEN as TELEGRAM_TOKEN
    from tests.fake_telegram import FakeTelegram

    telegram, discord_fake = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord_fake.start()
    env = bot_env(
        tmp_path, telegram if "telegram" in adapters else None, discord_fake if "discord" in adapters else None
    )
    photo = sorted(FIXTURES.glob("*-*.jpg"))[0]
    process = await start_bot(env, tmp_path)
    try:
        if "telegram" in adapters:
            await telegram.push(telegram.photo_message(7, photo.read_bytes()))
            await telegram.wait_for(lambda: telegram.replies_to(7), timeout=60)
            assert photo.name.split("-")[0] in telegram.replies_to(7)[0]["text"]
            assert [c["command"] for c in telegram.commands][:2] == ["start", "help"], "the command menu is set"
        if "discord" in adapters:
            await discord_fake.ask_for_hashtags(8, photo.read_bytes())
        process.send_signal(signal.SIGTERM)
        status, log = await process.finish()
    finally:
        await telegram.stop()
        await discord_fake.stop()
    assert status == 0, log
    assert "stopped" in log
    assert TELEGRAM_TOKEN not in log and DISCORD_TOKEN not in log
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        platforms = sorted(row[0] for row in db.execute("SELECT platform FROM requests WHERE outcome = 'ok'"))
    assert platforms == sorted(adapters)


def test_health_check_reports_model_database_and_instagram(tmp_path: Path, database: Path | str) -> None:
    """On a new database of either engine (PostgreSQL's address shown without its password)."""
    where = {"DATABASE_URL": database} if isinstance(database, str) else {"DATABASE_PATH": str(database)}
    result = run_bot("--check", env=where, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model: ok" in result.stdout and "database: ok (" in result.stdout
    assert "instagram: no session configured" in result.stdout
    assert "teaching: on; 0 taught label(s)" in result.stdout
    assert "hashtag_test@" not in result.stdout + result.stderr
    missing = run_bot("--check", env={**where, "INSTAGRAM_SESSION_FILE": str(tmp_path / "nope")}, cwd=tmp_path)
    assert missing.returncode == 1 and "session file" in missing.stderr


async def test_reply_path_survives_a_locked_database(pipeline, flower_photos) -> None:
    """Another process holding the write lock delays nothing visible: the answer still comes."""
    import sqlite3

    await pipeline.db.write("PRAGMA busy_timeout = 50")
    path = next(row[2] for row in await pipeline.db.execute_fetchall("PRAGMA database_list"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        name, data = next(iter(flower_photos.items()))
        answer = await pipeline.answer(data, "telegram", "1", "1")
        assert answer.prediction.custom[0].name == name and answer.tags.tags
    finally:
        other.execute("ROLLBACK")
        other.close()
