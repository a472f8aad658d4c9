"""Keep the trend cache warm in the background, never on the reply path.

Subjects seen for the first time are queued by `TrendCache`; this loop works
through the queue and through stale entries, one Instagram request at a
time with spacing between them, in a worker thread. When Instagram refuses,
the whole refresher pauses with exponential back-off (hours) and the failure
is recorded where admins can see it; replies keep using what is cached and
the curated catalogue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from storage import trend_store
from storage.database import DAY, HOUR, Database
from storage.errors import DatabaseError
from trends.catalogue import Catalogue
from trends.composer import candidates, searched
from trends.instagram import InstagramClient, InstagramRefused
from trends.tags import normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshSettings:
    count_ttl: float = 7 * DAY
    search_ttl: float = 14 * DAY
    failure_ttl: float = 1 * DAY
    spacing: float = 20.0
    batch: int = 10
    backoff_base: float = 1 * HOUR
    backoff_max: float = 24 * HOUR


class TrendRefresher:
    """Fetches searches and counts from Instagram into the trend store."""

    def __init__(self, db: Database, client: InstagramClient, catalogue: Catalogue, settings: RefreshSettings) -> None:
        self.db, self.client, self.catalogue, self.settings = db, client, catalogue, settings

    async def run_once(self) -> int:
        """One pass over what is due; returns the number of Instagram requests made.

        Due are: labels seen for the first time, searches older than their TTL (with
        counts for their tags), and any other count older than its TTL.
        """
        if (await trend_store.health(self.db)).paused:
            return 0
        requests = 0
        try:
            for query in await trend_store.due_queries(
                self.db, self.settings.search_ttl, self.settings.failure_ttl, self.settings.batch
            ):
                requests += 1
                found = await self._search(query)
                offered = candidates(searched(query), self.catalogue, {query: found})
                stale = await trend_store.stale_counts(
                    self.db,
                    list(dict.fromkeys(normalise(c.tag) for c in offered)),
                    self.settings.count_ttl,
                    self.settings.failure_ttl,
                )
                for tag in stale[: self.settings.batch]:
                    requests += 1
                    await self._count(tag)
            for tag in await trend_store.expired_counts(
                self.db, self.settings.count_ttl, self.settings.failure_ttl, self.settings.batch
            ):
                requests += 1
                await self._count(tag)
        except InstagramRefused as error:
            failures = (await trend_store.health(self.db)).failures
            pause = min(self.settings.backoff_base * 2**failures, self.settings.backoff_max)
            await trend_store.record_failure(self.db, str(error), pause)
            log.warning("instagram refused (%s); trend refresh paused for %.1f h", error.kind, pause / HOUR)
        return requests

    async def _search(self, query: str) -> list[str]:
        """Search Instagram for `query`, store what it returned, and return the related tags."""
        try:
            found = await asyncio.to_thread(self.client.search, query)
        except InstagramRefused as error:
            await trend_store.save_search_error(self.db, query, str(error))
            raise
        await trend_store.save_search(self.db, query, list(found))
        await trend_store.save_counts(self.db, {tag: count for tag, count in found.items() if count is not None})
        await trend_store.unqueue(self.db, query)
        await trend_store.record_success(self.db)
        await asyncio.sleep(self.settings.spacing)
        return list(found)

    async def _count(self, tag: str) -> None:
        try:
            count = await asyncio.to_thread(self.client.media_count, tag)
        except InstagramRefused as error:
            await trend_store.save_count_error(self.db, tag, str(error))
            if error.kind != "not_found":
                raise
            return
        await trend_store.save_counts(self.db, {tag: count})
        await trend_store.record_success(self.db)
        await asyncio.sleep(self.settings.spacing)

    async def run_forever(self, idle: float = 60.0) -> None:
        """Refresh until cancelled, sleeping `idle` seconds between passes, while this process leads.

        Processes sharing a database elect one refresher (`Database.leadership`): one session
        talks to Instagram at a time. The others try again every `idle` seconds, so when the
        leader dies (its lock goes with it) another takes over within that time.
        """
        while True:
            try:
                async with self.db.leadership("trend-refresher") as leading:
                    if leading:
                        log.info("this process refreshes trends from Instagram")
                        await self._lead(idle)
            except DatabaseError:
                log.exception("trend refresh could not use the database; retrying later")
            await asyncio.sleep(idle)

    async def _lead(self, idle: float) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(idle)
