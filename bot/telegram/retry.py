"""Telegram's transient failures retried where python-telegram-bot already retries 429s: its rate limiter.

Every Bot API call but getUpdates passes through `AIORateLimiter`, which waits
out a `RetryAfter` (429) and tries again. A 500 or 502, a reset connection or a
connect timeout are just as passing, and an answer lost to one of them is a
lost request; they are retried here with back-off, within SEND_RETRY_SECONDS.

A read timeout (`TimedOut`) is not retried: the request reached Telegram and
the message has most likely arrived, so a retry would post it twice. Asking
for a file changes nothing, so getFile and the download itself are retried
after a timeout too (`with_retries`, which both use).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter

from bot.retrying import Backoff

log = logging.getLogger(__name__)
T = TypeVar("T")

# The calls an answer depends on. Start-up calls (getMe, setMyCommands) have their own patience
# (TELEGRAM_STARTUP_PATIENCE_SECONDS), and "typing…" is not worth a retry.
RETRIED = frozenset({"sendMessage", "editMessageText", "getFile", "answerCallbackQuery"})
# Calls that only read: trying again after a read timeout cannot do anything twice.
READ_ONLY = frozenset({"getFile"})
# 429s in a row, each waited out for as long as Telegram asks, before a call gives up.
RETRY_AFTER_LIMIT = 10
FIRST_DELAY, LONGEST_DELAY = 0.5, 8.0


class RetryingRateLimiter(AIORateLimiter):
    """python-telegram-bot's rate limiter, also patient with 5xx answers and dropped connections."""

    def __init__(self, overall_max_rate: float, patience: float) -> None:
        super().__init__(overall_max_rate=overall_max_rate, max_retries=RETRY_AFTER_LIMIT)
        self.patience = patience

    async def process_request(self, callback, args, kwargs, endpoint: str, data: dict[str, Any], rate_limit_args):
        call = functools.partial(super().process_request, callback, args, kwargs, endpoint, data, rate_limit_args)
        if endpoint not in RETRIED:
            return await call()
        return await with_retries(call, self.patience, endpoint, read_only=endpoint in READ_ONLY)


async def with_retries(call: Callable[[], Awaitable[T]], patience: float, what: str, read_only: bool) -> T:
    """`call()`, tried again with back-off for `patience` seconds while it fails in a way that may pass:
    a 5xx, a dropped connection, and for a `read_only` call a read timeout too."""
    loop = asyncio.get_running_loop()
    deadline, backoff = loop.time() + patience, Backoff(FIRST_DELAY, LONGEST_DELAY)
    while True:
        try:
            return await call()
        except BadRequest:  # BadRequest subclasses NetworkError, yet trying again changes nothing
            raise
        except TimedOut:
            delay = backoff.next()
            if not read_only or loop.time() + delay > deadline:
                raise
            log.warning("%s timed out; trying again in %.1f s", what, delay)
        except NetworkError as error:
            delay = backoff.next()
            if loop.time() + delay > deadline:
                raise
            log.warning("%s failed (%s); trying again in %.1f s", what, error.message, delay)
        await asyncio.sleep(delay)
