"""Turn what the model saw into the few hashtags worth posting.

Instagram now shows only a handful of tags per post, so ranking is the
product: a tag scores by how sure we are of its label × how closely it
names the label × how useful its popularity is. Mega-tags (tens of millions
of posts) bury a small account's post within minutes, so mid-sized and niche
tags are preferred and the popular ones are capped at a third of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference.classifier import Prediction
from trends.catalogue import Catalogue
from trends.tags import is_valid, normalise, tags_from_label

STARTER_BLOCKLIST = Path(__file__).with_name("blocklist.txt")
DEFAULT_TAG_COUNT = 5
MAX_TAG_COUNT = 30

TIER_WEIGHT = {"mega": 0.55, "popular": 0.8, "medium": 1.0, "niche": 0.95, "tiny": 0.4, "unknown": 0.85}
CROWDED = {"mega", "popular"}
MIN_LABEL_SCORE = 0.05


def tier_of(media_count: int) -> str:
    """Popularity tier from Instagram's post count."""
    if media_count >= 10_000_000:
        return "mega"
    if media_count >= 1_000_000:
        return "popular"
    if media_count >= 100_000:
        return "medium"
    if media_count >= 10_000:
        return "niche"
    return "tiny"


def load_starter_blocklist(path: Path = STARTER_BLOCKLIST) -> frozenset[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return frozenset(normalise(line) for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True)
class ChosenTag:
    """One hashtag in an answer, with why it was chosen."""

    tag: str
    tier: str
    media_count: int | None
    label: str
    score: float


@dataclass(frozen=True)
class ComposedTags:
    """The answer: ranked tags and the labels they came from."""

    tags: tuple[ChosenTag, ...]
    labels: tuple[tuple[str, float], ...]

    @property
    def line(self) -> str:
        """Copy-ready: '#a #b #c'."""
        return " ".join(f"#{t.tag}" for t in self.tags)


@dataclass(frozen=True)
class TrendFacts:
    """What the cache knows: post counts per tag and related tags per searched label."""

    counts: dict[str, int]
    related: dict[str, list[str]]


@dataclass(frozen=True)
class WeightedLabel:
    """A label as the composer weighs it; `imagenet_index` finds its catalogue group."""

    name: str
    weight: float
    imagenet_index: int | None = None
    taught_tags: tuple[str, ...] = ()


def weighted_labels(prediction: Prediction) -> list[WeightedLabel]:
    """Custom (and taught) classes lead when the head is confident; ImageNet's otherwise."""
    custom_weight, imagenet_weight = (1.0, 0.6) if prediction.confident else (0.3, 1.0)
    labels = [WeightedLabel(label.name, label.score * custom_weight, None, label.tags) for label in prediction.custom]
    labels += [WeightedLabel(label.name, label.score * imagenet_weight, label.index) for label in prediction.imagenet]
    return [label for label in labels if label.weight >= MIN_LABEL_SCORE]


def candidate_queries(prediction: Prediction) -> list[str]:
    """The label texts worth an Instagram search, normalised (what the refresher queues)."""
    seen = [tags_from_label(label.name)[:1] for label in weighted_labels(prediction)]
    return list(dict.fromkeys(tag for tags in seen for tag in tags))


def compose_hashtags(
    prediction: Prediction,
    catalogue: Catalogue,
    facts: TrendFacts,
    blocklist: frozenset[str] | set[str],
    count: int = DEFAULT_TAG_COUNT,
) -> ComposedTags:
    """Rank every candidate tag for the photo and keep the best `count`; same input, same answer."""
    count = max(1, min(count, MAX_TAG_COUNT))
    scores: dict[str, float] = {}
    origin: dict[str, tuple[str, str]] = {}

    def offer(tag: str, label: str, weight: float, fit: float, tier_hint: str) -> None:
        tag = normalise(tag)
        if not is_valid(tag) or tag in blocklist:
            return
        known = facts.counts.get(tag)
        tier = tier_of(known) if known is not None else tier_hint
        score = weight * fit * TIER_WEIGHT[tier]
        if score > scores.get(tag, 0.0):
            if tag in scores:
                score += 0.1 * scores[tag]
            scores[tag] = score
            origin[tag] = (label, tier)
        else:
            scores[tag] += 0.1 * score

    labels = weighted_labels(prediction)
    for label in labels:
        name, weight, index = label.name, label.weight, label.imagenet_index
        for tag in label.taught_tags:
            offer(tag, name, weight, 1.05, "unknown")
        derived = tags_from_label(name)
        for position, tag in enumerate(derived):
            offer(tag, name, weight, 1.0 if position == 0 else 0.75, "unknown")
        own_entry = catalogue.has_entry(name)
        for entry in catalogue.lookup(name, index):
            fit = (0.85 if entry.tier == "popular" else 1.0) * (1.0 if own_entry else 0.8)
            offer(entry.tag, name, weight, fit, entry.tier)
        for rank, tag in enumerate(facts.related.get(derived[0], []) if derived else []):
            offer(tag, name, weight, max(0.4, 0.65 - 0.03 * rank), "unknown")

    ranked = sorted(scores, key=lambda tag: (-scores[tag], tag))
    crowded_quota = max(1, count // 3)
    chosen: list[str] = []
    passed_over: list[str] = []
    for tag in ranked:
        if len(chosen) == count:
            break
        if origin[tag][1] in CROWDED and sum(origin[t][1] in CROWDED for t in chosen) >= crowded_quota:
            passed_over.append(tag)
            continue
        chosen.append(tag)
    chosen += passed_over[: count - len(chosen)]
    chosen.sort(key=lambda tag: (-scores[tag], tag))
    return ComposedTags(
        tags=tuple(
            ChosenTag(tag, origin[tag][1], facts.counts.get(tag), origin[tag][0], round(scores[tag], 4))
            for tag in chosen
        ),
        labels=tuple((label.name, round(label.weight, 4)) for label in labels),
    )
