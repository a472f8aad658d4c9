"""Logging set-up: one line per event, secrets masked wherever they might appear.

Libraries log request URLs, and the Bot API URL contains the token; masking
happens on the final formatted text (tracebacks included), whoever logged it.
Uncaught exceptions go through the same handler, so an error message that
quotes a token (python-telegram-bot's InvalidToken does) is masked too.
"""

from __future__ import annotations

import logging
import sys
import threading

from telegram.error import InvalidToken

from bot.config import Config

# Failures the runner reports in one line of its own ("TELEGRAM_BOT_TOKEN was rejected"): a traceback adds nothing.
REPORTED_FAILURES = (InvalidToken,)


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces each secret's text with '***'."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def without_reported_tracebacks(record: logging.LogRecord) -> bool:
    """Keep the library's line, drop its traceback when the runner explains the failure itself."""
    if record.exc_info and isinstance(record.exc_info[1], REPORTED_FAILURES):
        record.exc_info = None
    return True


def setup_logging(config: Config, stream=None) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", config.secrets()))
    handler.addFilter(without_reported_tracebacks)
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler], force=True)
    # httpx logs every request URL (with the bot token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    crash = logging.getLogger("bot.crash")
    sys.excepthook = lambda kind, value, trace: crash.critical("uncaught exception", exc_info=(kind, value, trace))
    threading.excepthook = lambda hook: crash.critical(
        "uncaught exception in thread %s",
        hook.thread.name if hook.thread else "?",
        exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback),
    )
