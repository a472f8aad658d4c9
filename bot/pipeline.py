"""Photo in, hashtags out: the one path every adapter calls.

Adapters differ only in how they receive a photo and send the answer. Here, for
each photo of a post (an album is one post, answered once): decode (worker
thread) → classify and look for people (micro-batched LiteRT) → taught labels →
what the answer names (`inference.scene`); then, once for the post: trend facts
from the cache → compose; the adapter's send goes through `deliver`. Each stage is
timed, and every post is logged exactly once with how it ended (ok,
rejected, send_failed, error, or cancelled by a shutdown), in the background, so the database never
delays a reply. It is also the adapters' one door to storage (chat settings, answers kept for their
buttons, the admin report, teaching), so no platform package writes SQL of its own but its inbox.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.config import Config
from bot.memory import give_back
from bot.teaching import GLOBAL, Teaching
from inference.classifier import Classifier, Prediction
from inference.decode import ImageRejected, decode_photo, decoded_bytes
from inference.decode_budget import DecodeBudget
from inference.scene import Scene, describe, merge
from storage import adapter_state, installation, processes, request_log, settings, shown, taught, trend_store
from storage.coalesce import Coalescer
from storage.database import Database, open_database
from storage.errors import DatabaseError
from storage.request_log import LoggedRequest
from storage.request_writer import RequestWriter
from storage.settings import MAX_TAG_COUNT
from trends.cache import TrendCache
from trends.catalogue import Catalogue
from trends.composer import ComposedTags, compose_hashtags, load_starter_blocklist

log = logging.getLogger("bot.requests")
T = TypeVar("T")
# A photo as an adapter hands it over: its bytes, or the platform's download of them.
Source = bytes | Callable[[], Awaitable[bytes]]


def _last(timings: dict[str, float]) -> str:
    """The stage a failure stopped in: the last one entered."""
    return next(reversed(timings), "download")


class _Timed:
    """Time a stage of one photo; photos of a post run side by side, so the stage takes the slowest's time.

    A plain context manager: contextlib's sets `__traceback__` on what passes through, which the
    frozen `ImageRejected` refuses.
    """

    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.mark = time.perf_counter()
        self.timings.setdefault(self.stage, 0.0)

    def __exit__(self, *raised: object) -> None:
        self.timings[self.stage] = max(self.timings[self.stage], (time.perf_counter() - self.mark) * 1000)


@dataclass
class Answer:
    """Everything an adapter needs to reply, plus what gets logged.

    For a post of several photos, `prediction` is the first usable photo's, `scene` what the answer names
    across them, and `skipped` the photos (by position) that could not be used, with why.
    """

    prediction: Prediction
    scene: Scene
    tags: ComposedTags
    show_counts: bool
    record: LoggedRequest
    photos: int = 1
    skipped: list[tuple[int, ImageRejected]] = field(default_factory=list)


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
    decode_bytes: int = 200_000_000
    process: str = field(default_factory=processes.new_id)  # this process among those sharing the database

    def __post_init__(self) -> None:
        self.writer = RequestWriter(self.db, self.log_backlog)
        self.decode_budget = DecodeBudget(self.decode_bytes)
        self.trends = TrendCache(self.db, self.catalogue)
        self.teaching = Teaching(self.db, self.classifier, self.max_image_pixels, self.decode_budget)
        self._starter_blocklist = load_starter_blocklist()
        self._keeping: set[asyncio.Task] = set()
        self._shown = Coalescer(functools.partial(shown.keep, self.db))

    async def answer(
        self,
        photos: Source | Sequence[Source],
        platform: str,
        chat_id: str,
        user_id: str,
        tag_count: int | None = None,
        taught_scope: str = GLOBAL,
    ) -> Answer:
        """Fetch (when given downloads), classify and compose one answer for a photo or the photos of one post;
        then `deliver`.

        An Instagram carousel takes one set of tags, so an album gets one answer chosen across its
        photos (`inference.scene.merge`: what several photos show first). Adapters pass their
        platform's downloads as `photos`, so every stage, the download included, is timed and logged
        here the same way for all; photos run side by side, and a stage's time is its slowest photo's.
        Classes taught for `taught_scope` (and globally) may claim a photo. A photo that cannot be
        used is skipped (`Answer.skipped`); when none can be, the first one's `ImageRejected` is
        raised, and any other failure its own error. Either way the post is logged here, once, with
        its number of photos and its outcome ("rejected" reasons such as `corrupt`, or `error`).
        """
        sources = [photos] if isinstance(photos, bytes) or callable(photos) else list(photos)
        record = LoggedRequest(platform, str(chat_id), str(user_id), "ok", photos=len(sources))
        timings: dict[str, float] = {}
        try:
            seen = await asyncio.gather(*(self._see(source, taught_scope, timings) for source in sources))
            looked = [(index, found) for index, found in enumerate(seen) if not isinstance(found, ImageRejected)]
            skipped = [(index, found) for index, found in enumerate(seen) if isinstance(found, ImageRejected)]
            record.image_sha256 = ",".join(found[2] for _, found in looked) or None
            if not looked:
                raise skipped[0][1]
            scene = merge([found[1] for _, found in looked])
            with _Timed(timings, "compose"):
                chat = await settings.get_chat_settings(self.db, platform, chat_id)
                tags = await self._compose(scene, tag_count or chat.tag_count or self.default_tag_count)
        except ImageRejected as error:
            record.outcome, record.error, record.latency_ms = error.reason, error.message, timings
            self._record(record)
            raise
        except asyncio.CancelledError:
            record.outcome, record.error, record.latency_ms = "cancelled", f"{_last(timings)}: stopped", timings
            self._record(record)
            raise
        except Exception as error:
            # The exception's type only: a message may carry a URL with a token in it.
            failed = f"{_last(timings)}: {type(error).__name__}"
            record.outcome, record.error, record.latency_ms = "error", failed, timings
            self._record(record)
            raise
        record.labels = list(tags.labels)
        record.hashtags = [t.tag for t in tags.tags]
        record.latency_ms = timings
        prediction = looked[0][1][0]
        record.model_version = prediction.model_version
        return Answer(prediction, scene, tags, bool(chat.show_counts), record, len(sources), skipped)

    async def _see(
        self, source: Source, taught_scope: str, timings: dict[str, float]
    ) -> tuple[Prediction, Scene, str] | ImageRejected:
        """One photo's prediction, what it shows and its hash; or why it cannot be used.

        Each stage's time goes into `timings` as the slowest photo's, and the stage a failure stopped
        in is the last one entered, so the post's log row says where it broke.
        """
        try:
            if not isinstance(source, bytes):
                with _Timed(timings, "download"):
                    source = await source()
            digest = hashlib.sha256(source).hexdigest()
            with _Timed(timings, "decode"):
                people_side = self.classifier.people.side if self.classifier.people else None
                async with self.decode_budget.hold(decoded_bytes(source)):
                    image, whole = await asyncio.to_thread(decode_photo, source, self.max_image_pixels, people_side)
            with _Timed(timings, "inference"):
                prediction = await self.classifier.classify(image, whole)
                prediction = await self.teaching.apply(prediction, taught_scope, source)
                scene = describe(prediction, self.classifier.subject_tree)
        except ImageRejected as error:
            return error
        return prediction, scene, digest

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

    async def chat_settings(
        self, platform: str, chat_id: str, tag_count: int | None = None, show_counts: bool | None = None
    ) -> settings.ChatSettings:
        """How a chat (a Telegram chat, a Discord server) wants its answers, with what is given changed and saved."""
        current = await settings.get_chat_settings(self.db, platform, chat_id)
        if tag_count is None and show_counts is None:
            return current
        chosen = settings.ChatSettings(
            current.tag_count if tag_count is None else tag_count,
            current.show_counts if show_counts is None else show_counts,
        )
        await settings.save_chat_settings(self.db, platform, chat_id, chosen)
        return chosen

    async def installation_secret(self, name: str) -> bytes:
        """A secret this installation made for itself at its first start (`storage.installation`)."""
        return await installation.secret(self.db, name)

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

    async def page(self, scene: Scene, offset: int, count: int) -> ComposedTags:
        """The `count` best tags after the first `offset` ('More tags'); empty past the last one.

        The first `offset` are left out by name, not by position: the best ten are not the best five and
        five more, since a word may take only two places of either.
        """
        compose = await self._composer(scene)
        before = {t.tag for t in compose(offset).tags} if offset else set()
        ranked = compose(min(offset + count, MAX_TAG_COUNT))
        return ComposedTags(tuple(t for t in ranked.tags if t.tag not in before)[:count], ranked.labels)

    async def _compose(self, scene: Scene, count: int) -> ComposedTags:
        return (await self._composer(scene))(count)

    async def _composer(self, scene: Scene) -> Callable[[int], ComposedTags]:
        """The scene's tags for any count, from one read of the blocklist and the trend facts."""
        blocklist = self._starter_blocklist | await settings.blocked_tags(self.db)
        facts = await self.trends.facts_for(scene)
        return functools.partial(compose_hashtags, scene, self.catalogue, facts, blocklist)

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

    def keep(self, answer: Answer) -> tuple[str, shown.Shown]:
        """Keep an answer for its buttons (Telegram) or another tag count (the web), under a new key no other
        process sharing the database hands out. In the background: the reply never waits for the database,
        and a tap comes seconds later. If it cannot be kept, asking for it says the answer is too old."""
        key = secrets.token_urlsafe(12)
        kept = shown.Shown(
            answer.scene, len(answer.tags.tags) or self.default_tag_count, answer.prediction.model_version
        )
        task = asyncio.create_task(self._keep(key, kept))
        self._keeping.add(task)
        task.add_done_callback(self._keeping.discard)
        return key, kept

    async def _keep(self, key: str, kept: shown.Shown) -> None:
        try:
            await self._shown.add((key, kept))
        except DatabaseError as error:
            log.warning("could not keep an answer for its buttons (%s)", error)

    async def kept(self, key: str) -> shown.Shown | None:
        """An answer kept by `keep`; None once it is too old."""
        return await shown.find(self.db, key)

    async def turn(self, key: str, offset: int) -> None:
        """The kept answer now shows its tags from `offset` on ('More tags')."""
        await shown.turn(self.db, key, offset)

    async def close(self) -> None:
        """Finish the background writes, stop the model threads, close the database."""
        await self.drain()
        await self.classifier.aclose()
        await self.db.close()

    async def drain(self) -> None:
        """Wait for background writes: the log's and the kept answers' (clean shutdown, tests)."""
        await asyncio.gather(*self._keeping)
        await self.writer.drain()


async def open_pipeline(config: Config) -> Pipeline:
    """The process's one pipeline: the model loaded, the database opened, the taught labels fitted."""
    classifier = Classifier(config.model_dir, confidence=config.confidence)
    db = await open_database(config.database)
    pipeline = Pipeline(
        classifier,
        db,
        Catalogue(),
        config.default_tag_count,
        config.max_image_pixels,
        config.log_backlog,
        config.decode_memory_mb * 1_000_000,
    )
    await pipeline.teaching.load()
    give_back()  # what loading the models and fitting the regions left behind
    return pipeline
