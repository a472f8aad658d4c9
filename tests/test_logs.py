"""bot/logs.py: tokens, webhook secrets and database passwords never reach the log, whoever logs them."""

from __future__ import annotations

import io
import logging
import sys

from bot.config import load_config
from bot.logs import setup_logging


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
