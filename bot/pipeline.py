"""Photo in, hashtags out: the one path both chat adapters call.

Adapters differ only in how they receive a photo and send the answer. Here:
decode (worker thread) → classify and look for people (micro-batched LiteRT)
→ taught labels → what the answer names (`inference.scene`) → trend facts
from the cache → compose; the adapter's send goes through `deliver`. Each stage is
timed, and every request is logged exactly once with how it ended (ok,
rejected, send_failed, error, or cancelled by a shutdown), in the background, so the database never
delays a reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.teaching import GLOBAL, Teaching
from inference.classifier import Classifier, Prediction
from inference.decode import ImageRejected, decode_photo, decoded_pixels
from inference.pixel_budget import PixelBudget
from inference.scene import Scene, describe
from storage import adapter_state, processes, request_log, settings, shown, taught, trend_store
from storage.database import Database, DatabaseError
from storage.request_log import LoggedRequest
from storage.request_writer import RequestWriter
from trends.cache import TrendCache
from trends.catalogue import Catalogue
from trends.composer import ComposedTags, compose_hashtags, load_starter_blocklist

log = logging.getLogger("bot.requests")
T = TypeVar("T")


@dataclass
class Answer:
    """Everything an adapter needs to reply, plus what gets logged."""

    prediction: Prediction
    scene: Scene
    tags: ComposedTags
    show_counts: bool
    record: LoggedRequest


@dataclass(frozen=True)
class Report:
    """The request log's figures, Instagram's health and last searches, and the taught labels.

    `log_waiting` rows wait in memory for the database, `log_dropped` more were lost and are not yet in
    `requests.dropped` (both 0 unless the disk is full).
    """

    requests: request_log.Stats
    instagram: trend_store.Health
    searches: list[tuple[str, float, int]]
    taught: list[taught.TaughtLabel]
    log_waiting: int = 0
    log_dropped: int = 0
    adapters: list[adapter_state.AdapterState] = field(default_factory=list)


@dataclass
class Pipeline:
    """Shared by every adapter in the process: one classifier, one database, one catalogue."""

    classifier: Classifier
    db: Database
    catalogue: Catalogue
    default_tag_count: int = 5
    max_image_pixels: int = 50_000_000
    log_backlog: int = 10_000
    decode_pixels: int = 50_000_000
    process: str = field(default_factory=processes.new_id)  # this process among those sharing the database

    def __post_init__(self) -> None:
        self.writer = RequestWriter(self.db, self.log_backlog)
        self.decode_budget = PixelBudget(self.decode_pixels)
        self.trends = TrendCache(self.db, self.catalogue)
        self.teaching = Teaching(self.db, self.classifier, self.max_image_pixels, self.decode_budget)
        self._starter_blocklist = load_starter_blocklist()
        self._keeping: set[asyncio.Task] = set()

    async def answer(
        self,
        source: bytes | Callable[[], Awaitable[bytes]],
        platform: str,
        chat_id: str,
        user_id: str,
        tag_count: int | None = None,
        taught_scope: str = GLOBAL,
    ) -> Answer:
        """Fetch (when given a download), classify and compose; then `deliver` the reply.

        Adapters pass their platform's download as `source`, so every stage, the
        download included, is timed and logged here the same way for both.
        Classes taught for `taught_scope` (and globally) may claim the photo.
        A photo that cannot be used raises `ImageRejected` and any other failure
        its own error; either way the request is logged here, once, with that
        outcome ("rejected" reasons such as `corrupt`, or `error`).
        """
        record = LoggedRequest(platform, str(chat_id), str(user_id), "ok")
        timings: dict[str, float] = {}
        stage, mark = "download", time.perf_counter()
        try:
            if not isinstance(source, bytes):
                source = await source()
                timings["download"] = (time.perf_counter() - mark) * 1000
            record.image_sha256 = hashlib.sha256(source).hexdigest()
            stage, mark = "decode", time.perf_counter()
            people_side = self.classifier.people.side if self.classifier.people else None
            async with self.decode_budget.hold(decoded_pixels(source)):
                image, whole = await asyncio.to_thread(decode_photo, source, self.max_image_pixels, people_side)
            timings["decode"] = (time.perf_counter() - mark) * 1000
            stage, mark = "inference", time.perf_counter()
            prediction = await self.teaching.apply(await self.classifier.classify(image, whole), taught_scope, source)
            scene = describe(prediction, self.classifier.subject_tree)
            timings["inference"] = (time.perf_counter() - mark) * 1000
            stage, mark = "compose", time.perf_counter()
            chat = await settings.get_chat_settings(self.db, platform, chat_id)
            tags = await self._compose(scene, tag_count or chat.tag_count or self.default_tag_count)
            timings["compose"] = (time.perf_counter() - mark) * 1000
        except ImageRejected as error:
            timings[stage] = (time.perf_counter() - mark) * 1000
            record.outcome, record.error, record.latency_ms = error.reason, error.message, timings
            self._record(record)
            raise
        except asyncio.CancelledError:
            timings[stage] = (time.perf_counter() - mark) * 1000
            record.outcome, record.error, record.latency_ms = "cancelled", f"{stage}: stopped", timings
            self._record(record)
            raise
        except Exception as error:
            timings[stage] = (time.perf_counter() - mark) * 1000
            # The exception's type only: a message may carry a URL with a token in it.
            record.outcome, record.error, record.latency_ms = "error", f"{stage}: {type(error).__name__}", timings
            self._record(record)
            raise
        record.labels = list(tags.labels)
        record.hashtags = [t.tag for t in tags.tags]
        record.latency_ms = timings
        record.model_version = prediction.model_version
        return Answer(prediction, scene, tags, bool(chat.show_counts), record)

    async def deliver(self, answers: Sequence[Answer], send: Callable[[], Awaitable[T]]) -> T:
        """Send the reply that carries these answers, and log each of them once.

        The outcome is "ok", or "send_failed" when `send` raised (the error is
        re-raised for the adapter's error handler); the send's time is a stage
        of every answer it carried.
        """
        mark = time.perf_counter()
        try:
            sent = await send()
        except Exception as error:
            for answer in answers:
                answer.record.outcome, answer.record.error = "send_failed", type(error).__name__
                self._record(answer.record, (time.perf_counter() - mark) * 1000)
            raise
        for answer in answers:
            self._record(answer.record, (time.perf_counter() - mark) * 1000)
        return sent

    async def chat_settings(self, platform: str, chat_id: str) -> settings.ChatSettings:
        """How a chat (a Telegram chat, a Discord server) wants its answers."""
        return await settings.get_chat_settings(self.db, platform, chat_id)

    async def save_chat_settings(self, platform: str, chat_id: str, chosen: settings.ChatSettings) -> None:
        await settings.save_chat_settings(self.db, platform, chat_id, chosen)

    async def report(self) -> Report:
        """What admins see, as /stats in a chat and on the web dashboard: one set of queries for both."""
        return Report(
            await request_log.request_stats(self.db),
            await trend_store.health(self.db),
            await trend_store.recent_searches(self.db),
            await taught.all_labels(self.db),
            len(self.writer.waiting),
            self.writer.dropped,
            await adapter_state.states(self.db),
        )

    async def recompose(self, scene: Scene, count: int) -> ComposedTags:
        """Another view of the same photo (more tags), without classifying again."""
        return await self._compose(scene, count)

    async def _compose(self, scene: Scene, count: int) -> ComposedTags:
        blocklist = self._starter_blocklist | await settings.blocked_tags(self.db)
        facts = await self.trends.facts_for(scene)
        return compose_hashtags(scene, self.catalogue, facts, blocklist, count)

    def _record(self, request: LoggedRequest, send_ms: float | None = None) -> None:
        """Log the request in the background; one structured line goes to the log at once."""
        if send_ms is not None:
            request.latency_ms["send"] = send_ms
        stages = " ".join(f"{k}={v:.1f}ms" for k, v in request.latency_ms.items())
        log.info(
            "request platform=%s chat=%s user=%s outcome=%s tags=%d %s",
            request.platform,
            request.chat_id,
            request.user_id,
            request.outcome,
            len(request.hashtags),
            stages,
        )
        self.writer.add(request)

    async def wait_recorded(self, count: int) -> None:
        """Until `count` requests have been written (or wait in memory for the disk): for shutdown and tests."""
        await self.writer.wait_handled(count)

    def keep_shown(self, key: str, kept: shown.Shown) -> None:
        """Keep an answer for its buttons in the background: the reply never waits for the database, and a
        tap comes seconds later. If it cannot be kept, the buttons say the answer is too old."""
        task = asyncio.create_task(self._keep_shown(key, kept))
        self._keeping.add(task)
        task.add_done_callback(self._keeping.discard)

    async def _keep_shown(self, key: str, kept: shown.Shown) -> None:
        try:
            await shown.keep(self.db, key, kept)
        except DatabaseError as error:
            log.warning("could not keep an answer for its buttons (%s)", error)

    async def drain(self) -> None:
        """Wait for background writes: the log's and the kept answers' (clean shutdown, tests)."""
        await asyncio.gather(*self._keeping)
        await self.writer.drain()
