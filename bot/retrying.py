"""Waiting to try again, the same way everywhere: one doubling back-off, and one job repeated through database hiccups.

The runner restarting an adapter, Telegram's start and Discord's connect all
back off alike; the lease, the adoption of what dead processes left and the
taught-label sync all repeat alike, a failed round only logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.errors import DatabaseError

log = logging.getLogger(__name__)


class Backoff:
    """Waits that double from `first` up to `longest`, one per failure; `waited` is their sum since `reset`."""

    def __init__(self, first: float, longest: float) -> None:
        self.first, self.longest = first, longest
        self.reset()

    def reset(self) -> None:
        """After a success: the next failure waits `first` again."""
        self.waited, self._next = 0.0, self.first

    def next(self) -> float:
        """The wait before the next attempt."""
        delay = self._next
        self._next = min(2 * delay, self.longest)
        self.waited += delay
        return delay


async def repeat(
    job: Callable[[], Awaitable[object]], seconds: float, failing: str, *, wait_first: bool = True
) -> None:
    """Run `job` every `seconds` until cancelled; a database error only skips a round, logged as
    "`failing` (the error)"."""
    if wait_first:
        await asyncio.sleep(seconds)
    while True:
        try:
            await job()
        except DatabaseError as error:
            log.warning("%s (%s)", failing, error)
        await asyncio.sleep(seconds)
