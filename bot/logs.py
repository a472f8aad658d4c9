"""Logging set-up: one line per event, secrets masked wherever they might appear.

Libraries log request URLs, and the Bot API URL contains the token; masking
happens on the final formatted text (tracebacks included), whoever logged it.
"""

from __future__ import annotations

import logging

from bot.config import Config


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


def setup_logging(config: Config, stream=None) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", config.secrets()))
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler], force=True)
    # httpx logs every request URL (with the bot token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
