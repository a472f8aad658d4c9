"""How many photos one sender may send at once, so one busy sender cannot crowd out everyone else."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FloodGuard:
    """At most `limit` photos per sender in `window` seconds; an album counts once.

    A sender is a Telegram user or a web client; the count lives in this process's memory, on
    purpose: it guards this process's queue, costs nothing per photo, and a sender whose photos a
    load balancer spreads over N processes gets at most N times the limit (docs/scaling.md). A sender
    quiet for a whole window is forgotten, so the memory follows the senders of the last window only.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: OrderedDict[int | str, deque[float]] = OrderedDict()  # least recently active first
        self._albums: OrderedDict[str, None] = OrderedDict()

    def allow(self, user_id: int | str, album: str | None = None) -> bool:
        if album:
            if album in self._albums:
                return True
            self._albums[album] = None
            while len(self._albums) > 1000:
                self._albums.popitem(last=False)
        now = self.clock()
        self._forget_quiet(now)
        stamps = self._seen.pop(user_id, None) or deque()
        self._seen[user_id] = stamps
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True

    def _forget_quiet(self, now: float) -> None:
        while self._seen:
            stamps = next(iter(self._seen.values()))
            if stamps and now - stamps[-1] <= self.window:
                return
            self._seen.popitem(last=False)

    def count(self, user_id: int | str) -> int:
        """What `user_id` sent in the last window."""
        now = self.clock()
        return sum(1 for stamp in self._seen.get(user_id, ()) if now - stamp <= self.window)

    @property
    def senders(self) -> int:
        """Senders remembered: those active in about the last window."""
        return len(self._seen)

    def wait(self, user_id: int | str) -> float:
        """Seconds until `user_id` may send again (0 when it may now)."""
        stamps = self._seen.get(user_id)
        if not stamps or len(stamps) < self.limit:
            return 0.0
        return max(0.0, self.window - (self.clock() - stamps[0]))
