"""The reply path's only view of trends: read what is cached, queue what is new."""

from __future__ import annotations

import logging

import aiosqlite

from inference.classifier import Prediction
from storage import trend_store
from trends.catalogue import Catalogue
from trends.composer import TrendFacts, candidate_queries, weighted_labels
from trends.tags import tags_from_label

log = logging.getLogger(__name__)


class TrendCache:
    """Two indexed SQLite reads per photo; never a network request."""

    def __init__(self, db: aiosqlite.Connection, catalogue: Catalogue) -> None:
        self.db, self.catalogue = db, catalogue

    async def facts_for(self, prediction: Prediction) -> TrendFacts:
        """Counts and related tags for every tag the composer may consider; queues unseen labels."""
        queries = candidate_queries(prediction)
        related = await trend_store.search_results(self.db, queries)
        unseen = [q for q in queries if q not in related]
        if unseen:
            try:
                await trend_store.queue_queries(self.db, unseen)
            except aiosqlite.OperationalError:
                # Another process holds the write lock past the busy timeout: the labels will be
                # queued the next time they are seen; the reply must not fail for it.
                log.warning("could not queue %d new label(s) for Instagram lookup", len(unseen))
        tags = self.candidate_tags(prediction, related)
        return TrendFacts(await trend_store.media_counts(self.db, sorted(tags)), related)

    def candidate_tags(self, prediction: Prediction, related: dict[str, list[str]]) -> set[str]:
        """Every tag the composer may consider for this prediction."""
        tags = {tag for tags in related.values() for tag in tags}
        for label in weighted_labels(prediction):
            tags.update(label.taught_tags)
            tags.update(tags_from_label(label.name))
            tags.update(entry.tag for entry in self.catalogue.lookup(label.name, label.imagenet_index))
        return tags
