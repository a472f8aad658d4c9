"""The reply path's only view of trends: read what is cached, queue what is new."""

from __future__ import annotations

import logging

from inference.scene import Scene
from storage import trend_store
from storage.database import Database
from storage.errors import DatabaseError
from trends.catalogue import Catalogue
from trends.composer import TrendFacts, candidate_queries, candidates
from trends.tags import normalise

log = logging.getLogger(__name__)


class TrendCache:
    """Two indexed SQLite reads per photo; never a network request."""

    def __init__(self, db: Database, catalogue: Catalogue) -> None:
        self.db, self.catalogue = db, catalogue
        # Queued by this process. A queued label stays in the database until the refresher has searched
        # it, and is kept there after (`storage.trend_store`): queueing it again would be a write on every
        # reply, as it was on every reply of a bot with no Instagram session. Bounded by the labels there are.
        self._queued: set[str] = set()

    async def facts_for(self, scene: Scene) -> TrendFacts:
        """Counts and related tags for every tag the composer may consider; queues unseen subjects."""
        queries = candidate_queries(scene)
        related = await trend_store.search_results(self.db, queries)
        unseen = [q for q in queries if q not in related and q not in self._queued]
        if unseen:
            try:
                await trend_store.queue_queries(self.db, unseen)
                self._queued.update(unseen)
            except DatabaseError:
                # Another process holds the write lock past the busy timeout: the labels will be
                # queued the next time they are seen; the reply must not fail for it.
                log.warning("could not queue %d new label(s) for Instagram lookup", len(unseen))
        tags = {normalise(c.tag) for c in candidates(scene, self.catalogue, related)}
        return TrendFacts(await trend_store.media_counts(self.db, sorted(tags)), related)
