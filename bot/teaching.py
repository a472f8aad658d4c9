"""Teaching the bot new classes in the chat: what /learn, /done, /forget and /labels do on either platform.

Adapters check who may teach and collect the photos; this module turns each
photo into embeddings (12 views through the shared classifier, so teaching
queues behind replies instead of competing with them), stores them, and
refits the few-shot head of the scope on a worker thread. A reply in flight
keeps the head it started with; the next photo sees the new one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from inference.classifier import Classifier
from inference.decode import DEFAULT_MAX_PIXELS, MODEL_SIZE, VIEW_CROP, decode_views, decoded_bytes
from inference.decode_budget import DecodeBudget
from inference.few_shot import MIN_EXAMPLES, FewShotHead, fit_head, load_taught, resemblance, usable
from inference.model_folder import TAUGHT_FILE
from inference.values import Prediction, TaughtClass
from storage import lessons, taught
from storage.database import Database
from storage.lessons import Lesson
from trends.tags import is_valid, normalise

log = logging.getLogger(__name__)
GLOBAL = "global"
MAX_EXAMPLES = 30
MAX_LABEL_LENGTH = 40
MAX_TAUGHT_TAGS = 10
LESSON_IDLE_SECONDS = 15 * 60
_LABEL = re.compile(r"^[\w][\w '&-]*$")


class TeachingError(Exception):
    """Something the admin asked for that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class LearnCommand:
    name: str
    tags: tuple[str, ...]


def parse_learn(text: str) -> LearnCommand:
    """Telegram's `/learn blue ceramic mug #mug #ceramics` → label "blue ceramic mug" with its tags."""
    words = text.split()
    return learn_command(
        " ".join(w for w in words if not w.startswith("#")),
        [w for w in words if w.startswith("#")],
        "/learn blue ceramic mug #mug #ceramics",
    )


def learn_command(label: str, tags: Iterable[str], example: str) -> LearnCommand:
    """A label and its tags, each checked on its own; errors show `example`, in the platform's own syntax.

    Discord has separate options for the two; Telegram's one line is split by `parse_learn`.
    """
    name = " ".join(label.split()).lower()
    tags = tuple(dict.fromkeys(normalise(t) for t in tags))
    if not name:
        raise TeachingError(f"Name the label: {example}")
    if "#" in name:
        raise TeachingError(f"A label is words, not hashtags: {example}")
    if len(name) > MAX_LABEL_LENGTH or not _LABEL.match(name):
        raise TeachingError(
            f"A label is up to {MAX_LABEL_LENGTH} letters, digits, spaces, ' & or -, like “blue ceramic mug”."
        )
    bad = [t for t in tags if not is_valid(t)]
    if bad:
        raise TeachingError(f"Not a valid hashtag: #{bad[0][:40]}. Hashtags are letters, digits and _, no spaces.")
    if len(tags) > MAX_TAUGHT_TAGS:
        raise TeachingError(f"Up to {MAX_TAUGHT_TAGS} hashtags per label, please.")
    return LearnCommand(name, tags)


@dataclass
class Teaching:
    """The taught classes of every scope and their fitted heads, shared by every platform."""

    db: Database
    classifier: Classifier
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    decode_budget: DecodeBudget = field(default_factory=lambda: DecodeBudget(0))
    _heads: dict[str, FewShotHead] = field(default_factory=dict)
    _refitting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _version: int | None = None

    def __post_init__(self) -> None:
        self.trained = self.classifier.trained_stats
        self.folded = load_taught(self.classifier.model_dir / TAUGHT_FILE)

    @property
    def available(self) -> bool:
        """False for a model without class statistics and open-set thresholds: it can still answer, not learn.

        A taught label claims photos by the same region rule as the trained classes, so it needs both.
        """
        return self.classifier.regions is not None

    async def load(self) -> None:
        """Fit the heads of every scope that has taught classes (at start)."""
        await self.sync()

    async def sync(self) -> bool:
        """Refit every head when the taught labels changed since the last look (here or in another process
        sharing the database); True when they had. The runner calls it every TAUGHT_SYNC_SECONDS."""
        seen = await taught.version(self.db)
        if seen == self._version or not self.available:
            return False
        self._version = seen
        scopes = [GLOBAL, *await taught.scopes(self.db)]
        for gone in set(self._heads) - set(scopes):
            del self._heads[gone]
        await self._fit(scopes)
        return True

    async def apply(self, prediction: Prediction, scope: str, photo: bytes) -> Prediction:
        """Let a taught class of `scope` (or a global one) claim the photo.

        A photo a taught class might claim is judged on 6 views, as that class was taught on 12
        (about one in five of the other classes' photos in `bench/few_shot.py`); others cost nothing more.
        """
        head = self._heads.get(scope) or self._heads.get(GLOBAL)
        if head is None:
            return prediction
        in_question = head.in_question(prediction.embedding)
        return head.apply(prediction, await self.embed_views(photo, mirrored=False) if in_question else None)

    async def embed_views(self, photo: bytes, mirrored: bool = True) -> np.ndarray:
        """views×dim embeddings of one photo (`decode_views`), queued through the shared classifier like any reply."""
        async with self.decode_budget.hold(decoded_bytes(photo, round(MODEL_SIZE / VIEW_CROP))):
            views = await asyncio.to_thread(decode_views, photo, self.max_image_pixels, mirrored=mirrored)
        predictions = await asyncio.gather(*(self.classifier.classify(view) for view in views))
        return np.stack([p.embedding for p in predictions])

    async def start(self, scope: str, command: LearnCommand, user: str) -> list[str]:
        """Create (or re-open) a label; returns warnings for the admin."""
        self._require()
        warnings = []
        if command.name in self.classifier.classes or command.name in {t.name for t in self.folded}:
            warnings.append(
                f"“{command.name}” is also one of the model's own classes. Your photos become a separate class "
                "with the same name; /forget it if that is not what you meant."
            )
        elif scope != GLOBAL and any(label.name == command.name for label in await taught.labels(self.db, [GLOBAL])):
            warnings.append(f"The bot's admins already taught “{command.name}” for everyone; yours is added for here.")
        await taught.save_label(self.db, scope, command.name, list(command.tags), user)
        return warnings

    async def add(self, scope: str, name: str, photo: bytes, user: str, refit: bool = True) -> int:
        """Store one photo's embeddings; returns the label's example count. Raises ImageRejected.

        The head is refitted at once unless `refit` is False: a command adding several photos
        calls `refit` once after the last, instead of once per photo.
        """
        self._require()
        if await taught.example_count(self.db, scope, name) >= MAX_EXAMPLES:
            raise TeachingError(f"“{name}” already has {MAX_EXAMPLES} photos, the most it keeps.")
        embeddings = await self.embed_views(photo)
        count = await taught.add_example(self.db, scope, name, self.classifier.backbone, embeddings, user)
        log.info("taught scope=%s label=%r examples=%d by=%s", scope, name, count, user)
        if refit and count >= MIN_EXAMPLES:
            await self.refit(scope)
        return count

    async def review(self, scope: str, name: str) -> tuple[int, list[str]]:
        """The label's example count and what the admin should know about it (too few, looks like another)."""
        self._require()
        shared, own = await self._classes(scope)
        mine = next((c for c in own if c.name == name), None)
        count = len(mine.examples) if mine else 0
        if count < MIN_EXAMPLES:
            return count, [f"“{name}” needs at least {MIN_EXAMPLES} photos before I use it; send more."]
        others = shared + [c for c in own if c is not mine]
        head = await asyncio.to_thread(fit_head, self.trained, others, self.classifier.regions)
        similar = resemblance(head, mine.examples)
        if similar is None:
            return count, []
        other, share = similar
        return count, [
            f"{share:.0%} of these photos already look like “{other}” to me, so the two labels will compete. "
            "Photos that show the difference more clearly help."
        ]

    async def forget(self, scope: str, name: str) -> bool:
        self._require()
        if not await taught.forget(self.db, scope, name):
            return False
        if scope == GLOBAL:  # a chat's lesson teaches the global scope
            await lessons.end_label(self.db, name)
        log.info("forgot scope=%s label=%r", scope, name)
        await self.refit(scope)
        return True

    async def lesson(self, platform: str, chat: str) -> Lesson | None:
        """The lesson running in a chat (Telegram's /learn … /done), unless idle for LESSON_IDLE_SECONDS.

        Kept in the database, so a photo that reaches another bot process still finds its lesson.
        """
        return await lessons.current(self.db, platform, chat, LESSON_IDLE_SECONDS)

    async def begin_lesson(self, platform: str, chat: str, label: str, user: str) -> None:
        await lessons.start(self.db, platform, chat, label, user)

    async def lesson_photo(self, platform: str, chat: str, rejected: bool = False) -> None:
        """A photo of the lesson came: the lesson is not idle; `rejected` counts one that could not be used."""
        await lessons.touch(self.db, platform, chat, rejected)

    async def end_lesson(self, platform: str, chat: str) -> Lesson | None:
        return await lessons.end(self.db, platform, chat)

    async def describe(self, scope: str) -> str:
        """/labels: the model's classes and every class taught for this scope, with example counts."""
        lines = [f"Model classes: {', '.join(self.classifier.classes)}."]
        if self.folded:
            lines.append("Taught classes shipped with the model: " + ", ".join(t.name for t in self.folded) + ".")
        scopes = [GLOBAL] if scope == GLOBAL else [GLOBAL, scope]
        labels = await taught.labels(self.db, scopes)
        if not labels:
            lines.append("No taught classes yet" + (" (admins: /learn)." if self.available else "."))
        for label in labels:
            where = "everywhere" if label.scope == GLOBAL and scope != GLOBAL else ""
            state = "" if label.examples >= MIN_EXAMPLES else f", needs {MIN_EXAMPLES - label.examples} more"
            tags = " " + " ".join(f"#{t}" for t in label.tags) if label.tags else ""
            lines.append(f"• {label.name}: {label.examples} photos{state}{tags}" + (f" ({where})" if where else ""))
        return "\n".join(lines)

    def _require(self) -> None:
        if not self.available:
            raise TeachingError(
                "This model was exported without class statistics and open-set thresholds, so it cannot learn "
                "new classes. Run `python -m inference.class_stats --data <training photos>` once for it."
            )

    async def _classes(self, scope: str) -> tuple[list[TaughtClass], list[TaughtClass]]:
        """(classes that also apply here: shipped with the model, and global ones; the scope's own)."""
        backbone = self.classifier.backbone
        own = await taught.taught_classes(self.db, scope, backbone)
        shared = self.folded + (await taught.taught_classes(self.db, GLOBAL, backbone) if scope != GLOBAL else [])
        return shared, own

    async def refit(self, scope: str) -> None:
        """Refit the scope's head (all heads when a global class changed)."""
        await self._fit([scope, *self._heads] if scope == GLOBAL else [scope])

    async def _fit(self, scopes: list[str]) -> None:
        """Fit these scopes' heads off the event loop, one refit at a time."""
        async with self._refitting:
            for target in dict.fromkeys(scopes):
                shared, own = await self._classes(target)
                if usable(shared + own):
                    self._heads[target] = await asyncio.to_thread(
                        fit_head, self.trained, shared + own, self.classifier.regions
                    )
                else:  # nothing taught here yet: a head of the trained classes alone changes no answer
                    self._heads.pop(target, None)
