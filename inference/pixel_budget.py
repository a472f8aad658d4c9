"""A bound on the pixels being decoded at once, so memory stays bounded whatever arrives.

A 7000×7000 PNG compresses to a few kilobytes and decodes to 196 MB (Pillow
keeps RGB at 4 bytes a pixel); twenty at once took the process from 170 MB
to nearly 2 GB. Decodes wait until their pixels fit in the budget; a photo
bigger than the whole budget runs alone. A waiting big image does not hold
up small ones that fit, so ordinary photos keep flowing beside a flood.
"""

from __future__ import annotations

import asyncio


class PixelBudget:
    """At most `limit` decoded pixels in flight; 0 means no bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    def hold(self, pixels: int) -> _Held:
        """`async with budget.hold(pixels):` around a decode of that many pixels."""
        return _Held(self, pixels if self.limit else 0)


class _Held:
    """A class, not `contextlib.asynccontextmanager`: that one sets `__traceback__` on the exception
    passing through, and `ImageRejected` is a frozen dataclass."""

    def __init__(self, budget: PixelBudget, pixels: int) -> None:
        self.budget, self.pixels = budget, pixels

    async def __aenter__(self) -> None:
        budget = self.budget
        async with budget._changed:
            await budget._changed.wait_for(lambda: budget.used == 0 or budget.used + self.pixels <= budget.limit)
            budget.used += self.pixels

    async def __aexit__(self, *exc_info: object) -> None:
        async with self.budget._changed:
            self.budget.used -= self.pixels
            self.budget._changed.notify_all()
