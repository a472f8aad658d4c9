"""A bound on the pixels being decoded at once, so memory stays bounded whatever arrives.

A 7000×7000 PNG compresses to a few kilobytes and decodes to 196 MB (Pillow
keeps RGB at 4 bytes a pixel); twenty at once took the process from 170 MB
to nearly 2 GB. Decodes wait until their pixels fit in the budget; a photo
bigger than the whole budget runs alone. A waiting big image does not hold
up small ones that fit, so ordinary photos keep flowing beside a flood.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PixelBudget:
    """At most `limit` decoded pixels in flight; 0 means no bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        if not self.limit:
            yield
            return
        async with self._changed:
            await self._changed.wait_for(lambda: self.used == 0 or self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            async with self._changed:
                self.used -= pixels
                self._changed.notify_all()
