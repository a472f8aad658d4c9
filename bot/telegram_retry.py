"""Telegram's transient failures retried where python-telegram-bot already retries 429s: its rate limiter.

Every Bot API call but getUpdates passes through `AIORateLimiter`, which waits
out a `RetryAfter` (429) and tries again. A 500 or 502, a reset connection or a
connect timeout are just as passing, and an answer lost to one of them is a
lost request; they are retried here with back-off, within SEND_RETRY_SECONDS.

A read timeout (`TimedOut`) is not retried: the request reached Telegram and
the message has most likely arrived, so a retry would post it twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

# The calls an answer depends on. Start-up calls (getMe, setMyCommands) have their own patience
# (TELEGRAM_STARTUP_PATIENCE_SECONDS), and "typing…" is not worth a retry.
RETRIED = frozenset({"sendMessage", "editMessageText", "getFile", "answerCallbackQuery"})
# 429s in a row, each waited out for as long as Telegram asks, before a call gives up.
RETRY_AFTER_LIMIT = 10
FIRST_DELAY, LONGEST_DELAY = 0.5, 8.0


class RetryingRateLimiter(AIORateLimiter):
    """python-telegram-bot's rate limiter, also patient with 5xx answers and dropped connections."""

    def __init__(self, overall_max_rate: float, patience: float) -> None:
        super().__init__(overall_max_rate=overall_max_rate, max_retries=RETRY_AFTER_LIMIT)
        self.patience = patience

    async def process_request(self, callback, args, kwargs, endpoint: str, data: dict[str, Any], rate_limit_args):
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.patience, FIRST_DELAY
        while True:
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except (TimedOut, BadRequest):  # BadRequest subclasses NetworkError, yet trying again changes nothing
                raise
            except NetworkError as error:
                if endpoint not in RETRIED or loop.time() + delay > deadline:
                    raise
                log.warning("%s failed (%s); trying again in %.1f s", endpoint, error.message, delay)
                await asyncio.sleep(delay)
                delay = min(2 * delay, LONGEST_DELAY)
