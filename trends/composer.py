"""Turn what the answer names into the few hashtags worth posting.

Every candidate tag belongs to a subject the answer names (`inference.scene`),
so no tag is for something the photo was not judged to show. Instagram now
shows only a handful of tags per post, so ranking is the product: a tag
scores by how sure we are of its subject × how closely it names the subject
× how useful its popularity is. Mega-tags (tens of millions
of posts) bury a small account's post within minutes, so mid-sized and niche
tags are preferred and the popular ones are capped at a third of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference.scene import Scene
from storage.settings import DEFAULT_TAG_COUNT, MAX_TAG_COUNT
from trends.catalogue import Catalogue
from trends.tags import is_valid, normalise, tags_from_label
from trends.tiers import CROWDED, MEDIUM, MEGA, NICHE, POPULAR, TINY, UNKNOWN, tier_of

STARTER_BLOCKLIST = Path(__file__).with_name("blocklist.txt")

TIER_WEIGHT = {MEGA: 0.55, POPULAR: 0.8, MEDIUM: 1.0, NICHE: 0.95, TINY: 0.4, UNKNOWN: 0.85}


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


# The lead subject's tags outweigh the second's, and the second's the third's.
POSITION_WEIGHT = (1.0, 0.85, 0.7)
# An answer that names nothing offers broad tags, weighted low so any named subject would beat them.
BROAD = "broad"
BROAD_WEIGHT = 0.5


@dataclass(frozen=True)
class Candidate:
    """A tag the composer may choose, the named subject it is for, and how well it fits that subject."""

    tag: str
    key: str
    weight: float
    fit: float
    tier_hint: str


def candidates(scene: Scene, catalogue: Catalogue, related: dict[str, list[str]]) -> list[Candidate]:
    """Every tag worth considering for the photo, each for a subject the answer names; `related` by query.

    A trained, taught or lone ImageNet label offers its catalogue entry and tags made from its name;
    a coarse subject offers its curated tiers and those of its fine label when that is named as the
    detail; each offers the related tags Instagram's search returned for it. Nothing named: broad tags.
    """
    found: list[Candidate] = []
    for position, named in enumerate(scene.named):
        weight = named.score * POSITION_WEIGHT[min(position, len(POSITION_WEIGHT) - 1)]
        for tag in named.tags:
            found.append(Candidate(tag, named.key, weight, 1.05, UNKNOWN))
        if named.source in ("trained", "taught", "label"):
            derived = tags_from_label(named.key)
            for rank, tag in enumerate(derived):
                found.append(Candidate(tag, named.key, weight, 1.0 if rank == 0 else 0.75, UNKNOWN))
        for entry in catalogue.lookup(named.key):
            found.append(Candidate(entry.tag, named.key, weight, 0.85 if entry.tier == POPULAR else 1.0, entry.tier))
        if named.detail:
            # The sure fine label says more than its subject (#pizzalover before #foodie).
            for entry in catalogue.lookup(named.detail):
                fit = 0.85 if entry.tier == POPULAR else 1.05
                found.append(Candidate(entry.tag, named.key, weight, fit, entry.tier))
            for tag in tags_from_label(named.detail)[:1]:
                found.append(Candidate(tag, named.key, weight, 1.0, UNKNOWN))
        query = search_query(named.key)
        for rank, tag in enumerate(related.get(query, []) if query else []):
            found.append(Candidate(tag, named.key, weight, max(0.4, 0.65 - 0.03 * rank), UNKNOWN))
    if not scene.named:
        found += [Candidate(e.tag, BROAD, BROAD_WEIGHT, 1.0, e.tier) for e in catalogue.lookup(BROAD)]
    return found


def search_query(key: str) -> str | None:
    """The Instagram search for a named subject: its name as one tag ("big cat" → "bigcat")."""
    derived = tags_from_label(key)
    return derived[0] if derived else None


def candidate_queries(scene: Scene) -> list[str]:
    """The searches worth making for this photo's subjects (what the refresher queues)."""
    return list(dict.fromkeys(q for q in (search_query(n.key) for n in scene.named) if q))


def compose_hashtags(
    scene: Scene,
    catalogue: Catalogue,
    facts: TrendFacts,
    blocklist: frozenset[str] | set[str],
    count: int = DEFAULT_TAG_COUNT,
) -> ComposedTags:
    """Rank every candidate tag for the photo and keep the best `count`; same input, same answer."""
    count = max(1, min(count, MAX_TAG_COUNT))
    scores: dict[str, float] = {}
    origin: dict[str, tuple[str, str]] = {}
    for candidate in candidates(scene, catalogue, facts.related):
        tag = normalise(candidate.tag)
        if not is_valid(tag) or tag in blocklist:
            continue
        known = facts.counts.get(tag)
        tier = tier_of(known) if known is not None else candidate.tier_hint
        score = candidate.weight * candidate.fit * TIER_WEIGHT[tier]
        if score > scores.get(tag, 0.0):
            if tag in scores:
                score += 0.1 * scores[tag]
            scores[tag] = score
            origin[tag] = (candidate.key, tier)
        else:
            scores[tag] += 0.1 * score

    ranked = sorted(scores, key=lambda tag: (-scores[tag], tag))
    crowded_quota = max(1, count // 3)
    # Each named subject's best tag comes first, so "3 people at the beach" gets a beach tag too.
    leaders = {origin[tag][0]: tag for tag in reversed(ranked)}
    chosen: list[str] = [leaders[n.key] for n in scene.named if n.key in leaders][:count]
    passed_over: list[str] = []
    for tag in ranked:
        if tag in chosen:
            continue
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
        labels=tuple((named.key, round(named.score, 4)) for named in scene.named),
    )
