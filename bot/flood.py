"""How many photos one sender may send at once, so one busy sender cannot crowd out everyone else."""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque


class FloodGuard:
    """At most `limit` photos per sender in `window` seconds; an album counts once.

    A sender is a Telegram user or a web client; the count lives in this process's memory, on
    purpose: it guards this process's queue, costs nothing per photo, and a sender whose photos a
    load balancer spreads over N processes gets at most N times the limit (docs/scaling.md).
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[int | str, deque[float]] = defaultdict(deque)
        self._albums: OrderedDict[str, None] = OrderedDict()

    def allow(self, user_id: int | str, album: str | None = None) -> bool:
        if album:
            if album in self._albums:
                return True
            self._albums[album] = None
            while len(self._albums) > 1000:
                self._albums.popitem(last=False)
        stamps, now = self._seen[user_id], time.monotonic()
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True

    def wait(self, user_id: int | str) -> float:
        """Seconds until `user_id` may send again (0 when it may now)."""
        stamps = self._seen.get(user_id)
        if not stamps or len(stamps) < self.limit:
            return 0.0
        return max(0.0, self.window - (time.monotonic() - stamps[0]))
