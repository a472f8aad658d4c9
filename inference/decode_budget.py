"""A bound on the memory that decodes hold at once, so memory stays bounded whatever arrives.

A 7000×7000 PNG compresses to a few kilobytes and decodes to 196 MB (Pillow
keeps RGB at 4 bytes a pixel; a 16-bit one needs 6 at its peak, one with
alpha 8: `inference.decode.decoded_bytes`); twenty at once took the process
from 170 MB to nearly 2 GB. Decodes wait until their bytes fit in the budget;
a photo bigger than the whole budget runs alone. A waiting big image does not
hold up small ones that fit, and no decode counts for more than `BIG_SHARE` of
the budget, so ordinary photos keep flowing beside a flood even while an image
bigger than the whole budget decodes (twenty 16-bit 7000×7000 PNGs held small
photos up for 8.3 s each without it: docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio

# The most one decode counts for: the rest of the budget is always there for ordinary photos.
BIG_SHARE = 0.9


class DecodeBudget:
    """At most `limit` bytes of decoded images in flight; 0 means no bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    def hold(self, size: int) -> _Held:
        """`async with budget.hold(size):` around a decode that needs `size` bytes."""
        return _Held(self, min(size, int(self.limit * BIG_SHARE)) if self.limit else 0)


class _Held:
    """A class, not `contextlib.asynccontextmanager`: that one sets `__traceback__` on the exception
    passing through, and `ImageRejected` is a frozen dataclass."""

    def __init__(self, budget: DecodeBudget, size: int) -> None:
        self.budget, self.size = budget, size

    async def __aenter__(self) -> None:
        budget = self.budget
        async with budget._changed:
            await budget._changed.wait_for(lambda: budget.used == 0 or budget.used + self.size <= budget.limit)
            budget.used += self.size

    async def __aexit__(self, *exc_info: object) -> None:
        async with self.budget._changed:
            self.budget.used -= self.size
            self.budget._changed.notify_all()
