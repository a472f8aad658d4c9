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

from inference.scene import Named, Scene
from storage.settings import DEFAULT_TAG_COUNT, MAX_TAG_COUNT
from trends.catalogue import Catalogue
from trends.tags import is_valid, normalise, tag_words, tags_from_label
from trends.tiers import CROWDED, MEDIUM, MEGA, NICHE, POPULAR, TINY, UNKNOWN, tier_of

STARTER_BLOCKLIST = Path(__file__).with_name("blocklist.txt")

# The ranking constants. A tag scores weight × fit × tier weight, where the weight is how sure the
# answer is of the subject the tag is for. They were set by judgement when the composer was written
# and moved only by reading answers; no measurement chose them one by one (bench.real_photos
# measures the answers they add up to).
#
# How sure: the lead subject's tags outweigh the second's, and the second's the third's.
POSITION_WEIGHT = (1.0, 0.85, 0.7)
# How well a tag names its subject:
TAUGHT_FIT = 1.05  # an admin's own tags for a taught label come first
NAME_FIT = 1.0  # the name as one tag (#sportscar), and a sure fine label's (#tabby)
HEAD_NOUN_FIT = 0.75  # the name's head noun (#car from "sports car"): right, less specific
CURATED_FIT = 1.0  # a curated medium or niche tag of the subject
CROWDED_FIT = 0.85  # a curated popular tag: it fits, but it is crowded
DETAIL_FIT = 1.05  # a curated tag of the named fine label says more than the subject's (#pizzalover, #foodie)
RELATED_FIT, RELATED_STEP, RELATED_FLOOR = 0.65, 0.03, 0.4  # Instagram's related tags by rank: less sure
# A tag offered again (for another subject, or from another source) gains a tenth of the other offer.
REPEAT_BONUS = 0.1
# How useful the popularity is: mid-sized beats mega; unknown sits between.
TIER_WEIGHT = {MEGA: 0.55, POPULAR: 0.8, MEDIUM: 1.0, NICHE: 0.95, TINY: 0.4, UNKNOWN: 0.85}
# Mega and popular tags take at most one place in three.
CROWDED_ONE_IN = 3
# One word in at most this many tags (#portrait #portraits), unless nothing else is left: five spellings of
# one word are one tag's worth of reach.
SPELLINGS = 2
# An answer that names nothing offers broad tags, weighted low so any named subject would beat them.
BROAD = "broad"
BROAD_WEIGHT = 0.5


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
class Candidate:
    """A tag the composer may choose, the named subject it is for, and how well it fits that subject."""

    tag: str
    key: str
    weight: float
    fit: float
    tier_hint: str


def candidates(scene: Scene, catalogue: Catalogue, related: dict[str, list[str]]) -> list[Candidate]:
    """Every tag worth considering for the photo, each for a subject the answer names; `related` by query.

    The one list of where tags come from: the composer ranks it, the trend cache looks up post counts
    for it, and the refresher counts what it offers for each search. A trained, taught or lone
    ImageNet label offers tags made from its name and its catalogue entry; a coarse subject its
    curated tiers, and those of its fine label when that is named as the detail; each what Instagram's
    search returned for it. Nothing named: the broad tags.
    """
    found: list[Candidate] = []
    for position, named in enumerate(scene.named):
        # What people are doing says more than that they are there: its tags weigh as the lead's.
        weight = named.score * POSITION_WEIGHT[0 if named.doing else min(position, len(POSITION_WEIGHT) - 1)]
        for tag in named.tags:
            found.append(Candidate(tag, named.key, weight, TAUGHT_FIT, UNKNOWN))
        if named.source in ("trained", "taught", "label"):
            for rank, tag in enumerate(tags_from_label(named.key)):
                found.append(Candidate(tag, named.key, weight, NAME_FIT if rank == 0 else HEAD_NOUN_FIT, UNKNOWN))
        for entry in catalogue.lookup(named.key):
            fit = CROWDED_FIT if entry.tier == POPULAR else CURATED_FIT
            found.append(Candidate(entry.tag, named.key, weight, fit, entry.tier))
        if named.detail:
            for entry in catalogue.lookup(named.detail):
                fit = CROWDED_FIT if entry.tier == POPULAR else DETAIL_FIT
                found.append(Candidate(entry.tag, named.key, weight, fit, entry.tier))
            for tag in tags_from_label(named.detail)[:1]:
                found.append(Candidate(tag, named.key, weight, NAME_FIT, UNKNOWN))
        for name in (named.key, named.detail):
            for rank, tag in enumerate(related.get(search_query(name) or "", [])):
                fit = max(RELATED_FLOOR, RELATED_FIT - RELATED_STEP * rank)
                found.append(Candidate(tag, named.key, weight, fit, UNKNOWN))
    if not scene.named:
        found += [Candidate(e.tag, BROAD, BROAD_WEIGHT, CURATED_FIT, e.tier) for e in catalogue.lookup(BROAD)]
    return found


def search_query(name: str) -> str | None:
    """The Instagram search for a name: the name as one tag ("big cat" → "bigcat"); None for no name."""
    derived = tags_from_label(name)
    return derived[0] if derived else None


def candidate_queries(scene: Scene) -> list[str]:
    """The searches worth making for this photo: each named subject and its named detail (the refresher's queue)."""
    names = [name for named in scene.named for name in (named.key, named.detail)]
    return list(dict.fromkeys(q for q in map(search_query, names) if q))


def searched(query: str) -> Scene:
    """A scene naming just what a search was for: what the refresher counts the candidates of."""
    return Scene((Named(query, query, 1.0, "label"),))


def compose_hashtags(
    scene: Scene,
    catalogue: Catalogue,
    facts: TrendFacts,
    blocklist: frozenset[str] | set[str],
    count: int = DEFAULT_TAG_COUNT,
) -> ComposedTags:
    """The best `count` tags for what the answer names: `rank` over `candidates`; same input, same answer."""
    ranked = rank(candidates(scene, catalogue, facts.related), facts.counts, blocklist, count, catalogue.words)
    return ComposedTags(ranked, tuple((named.key, round(named.score, 4)) for named in scene.named))


def rank(
    offered: list[Candidate],
    counts: dict[str, int],
    blocklist: frozenset[str] | set[str],
    count: int,
    vocabulary: frozenset[str] = frozenset(),
) -> tuple[ChosenTag, ...]:
    """Score every candidate (weight × fit × tier weight, REPEAT_BONUS for a tag offered again) and keep `count`.

    Each subject's best tag comes first, so "a group of people at the beach" gets a beach tag too; crowded tags
    take at most one place in CROWDED_ONE_IN, a word of `vocabulary` at most SPELLINGS places, and a
    subject its share of the places (3 of 5 beside one other), unless nothing else is left.
    """
    count = max(1, min(count, MAX_TAG_COUNT))
    scores: dict[str, float] = {}
    origin: dict[str, tuple[str, str]] = {}
    for candidate in offered:
        tag = normalise(candidate.tag)
        if not is_valid(tag) or tag in blocklist:
            continue
        known = counts.get(tag)
        tier = tier_of(known) if known is not None else candidate.tier_hint
        score = candidate.weight * candidate.fit * TIER_WEIGHT[tier]
        if score > scores.get(tag, 0.0):
            if tag in scores:
                score += REPEAT_BONUS * scores[tag]
            scores[tag] = score
            origin[tag] = (candidate.key, tier)
        else:
            scores[tag] += REPEAT_BONUS * score

    ranked = sorted(scores, key=lambda tag: (-scores[tag], tag))
    crowded_quota = max(1, count // CROWDED_ONE_IN)
    leaders = {origin[tag][0]: tag for tag in reversed(ranked)}
    subjects = list(dict.fromkeys(candidate.key for candidate in offered))
    chosen: list[str] = [leaders[key] for key in subjects if key in leaders][:count]
    words = {tag: tag_words(tag, vocabulary) for tag in ranked}
    # Each subject named takes its share of the places, so the tags cover what the answer names.
    share = -(-count // max(1, len(leaders)))
    repeating, crowding, beyond_share = [], [], []
    for tag in ranked:
        if tag in chosen:
            continue
        if len(chosen) == count:
            break
        if any(sum(word in words[t] for t in chosen) >= SPELLINGS for word in words[tag]):
            repeating.append(tag)
        elif origin[tag][1] in CROWDED and sum(origin[t][1] in CROWDED for t in chosen) >= crowded_quota:
            crowding.append(tag)
        elif sum(origin[t][0] == origin[tag][0] for t in chosen) >= share:
            beyond_share.append(tag)
        else:
            chosen.append(tag)
    chosen += (beyond_share + crowding + repeating)[: count - len(chosen)]
    chosen.sort(key=lambda tag: (-scores[tag], tag))
    return tuple(
        ChosenTag(tag, origin[tag][1], counts.get(tag), origin[tag][0], round(scores[tag], 4)) for tag in chosen
    )
