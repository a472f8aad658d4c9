"""Wait until something the fake servers recorded becomes true.

Both fakes call `notify()` after every request they handle. A waiter is
woken only when its own condition holds, and with no lock to hand around:
under a 100-user load an `asyncio.Condition` would make every request queue
behind a hundred lock hand-offs, and the fake, not the bot, would be measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Changes:
    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], object], asyncio.Future[None]]] = []

    def notify(self) -> None:
        waiting = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate():
                future.set_result(None)
            else:
                waiting.append((predicate, future))
        self._waiters = waiting

    async def wait_for(self, predicate: Callable[[], object], timeout: float) -> None:
        """Return once `predicate()` is true; TimeoutError after `timeout` seconds."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        await asyncio.wait_for(future, timeout)
