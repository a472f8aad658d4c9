"""Request rows written in the background, kept in memory while the database cannot take them.

The reply never waits for the log. The rows that arrive while one write runs go
together in the next statement (under load, tens of replies' rows in one).
When a write fails (a full disk, a lock held past the busy timeout) the rows
wait in a bounded queue, in order, and are written with the next row that can
be, or by a retry every few seconds. Past the bound the oldest waiting rows are
dropped and counted; the count is written (as a `log_gaps` row) once the
database takes writes again, so `/stats` and `--check` can tell admins how many
rows a full disk cost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque

from storage import request_log
from storage.database import Database, now
from storage.errors import DatabaseError
from storage.request_log import LoggedRequest

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0


class RequestWriter:
    """Writes each request once; what cannot be written yet waits (up to `capacity` rows)."""

    def __init__(self, db: Database, capacity: int = 10_000) -> None:
        self.db = db
        self.waiting: deque[tuple[LoggedRequest, float]] = deque()
        self.capacity = capacity
        self.dropped = 0  # lost and not yet noted in log_gaps
        self.added = 0
        self.handled = 0  # rows written, waiting or dropped: each request counts once
        self._handled = asyncio.Condition()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._retry: asyncio.Task | None = None

    def add(self, request: LoggedRequest) -> None:
        """Queue `request` for writing, behind any rows still waiting."""
        self.waiting.append((request, now()))
        self.added += 1
        self._spawn(self._flush_and_count())

    async def flush(self) -> bool:
        """Write every waiting row, oldest first; False (and a retry scheduled) when the database refuses."""
        async with self._lock:
            try:
                while self.waiting:
                    rows = list(itertools.islice(self.waiting, request_log.ROWS_PER_STATEMENT))
                    await request_log.log_requests(self.db, rows)
                    for _ in rows:
                        self.waiting.popleft()
                if self.dropped:
                    await request_log.record_gap(self.db, self.dropped)
                    log.warning("the request log lost %d row(s) while the database could not be written", self.dropped)
                    self.dropped = 0
            except DatabaseError as error:
                while len(self.waiting) > self.capacity:
                    self.waiting.popleft()
                    self.dropped += 1
                if self._retry is None or self._retry.done():
                    log.error("cannot write the request log (%s): %d row(s) wait in memory", error, len(self.waiting))
                    self._retry = asyncio.create_task(self._retry_later())
                return False
        return True

    async def wait_handled(self, count: int) -> None:
        """Until `count` requests have been written, queued or dropped: for shutdown reports and tests."""
        async with self._handled:
            await self._handled.wait_for(lambda: self.handled >= count)

    async def settle(self) -> None:
        """Until every row added so far has been written (or waits in memory): before an update counts as
        answered, so a crash never leaves an answered request without its row."""
        await self.wait_handled(self.added)

    async def drain(self) -> None:
        """Finish the writes in progress and try the waiting rows once more (clean shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.waiting or self.dropped:
            await self.flush()
        if self._retry:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
        if self.waiting or self.dropped:
            log.error("stopping with %d request row(s) unwritten", len(self.waiting) + self.dropped)

    async def _flush_and_count(self) -> None:
        await self.flush()
        async with self._handled:
            self.handled += 1
            self._handled.notify_all()

    async def _retry_later(self) -> None:
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            if await self.flush():
                log.info("the request log is written again")
                return

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
