"""`python -m bot`: configuration errors, console mode, no token, secrets kept out of logs."""

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
from tests.conftest import FIXTURES

ROOT = Path(__file__).parent.parent


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
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
    token = "987654321:AAHsecretsecretsecretsecretsecret123"
    config = load_config({"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": "hook-secret-value"}, env_file=None)
    assert token not in repr(config)
    stream = io.StringIO()
    setup_logging(config, stream)
    logging.getLogger("httpx").warning("POST https://api.telegram.org/bot%s/getMe", token)
    try:
        raise RuntimeError(f"bad url https://api.telegram.org/bot{token}/x hook-secret-value")
    except RuntimeError:
        logging.getLogger("telegram").exception("failed")
    text = stream.getvalue()
    assert "getMe" in text and "failed" in text
    assert token not in text and "hook-secret-value" not in text


def test_no_token_is_a_clear_message(tmp_path: Path) -> None:
    result = run_bot(env={"DATABASE_PATH": str(tmp_path / "db.sqlite3")}, cwd=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr


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
