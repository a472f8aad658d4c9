"""Popularity tiers: how many posts a hashtag has, in the words the catalogue, the composer and the answers share."""

from __future__ import annotations

MEGA, POPULAR, MEDIUM, NICHE, TINY, UNKNOWN = "mega", "popular", "medium", "niche", "tiny", "unknown"
ORDER = (MEGA, POPULAR, MEDIUM, NICHE, TINY, UNKNOWN)
# What the curated catalogue writes, by hand, before Instagram has said anything.
CURATED = (POPULAR, MEDIUM, NICHE)
# Tags so used that a small account's post is buried within minutes.
CROWDED = frozenset({MEGA, POPULAR})


def tier_of(media_count: int) -> str:
    """Popularity tier from Instagram's post count."""
    if media_count >= 10_000_000:
        return MEGA
    if media_count >= 1_000_000:
        return POPULAR
    if media_count >= 100_000:
        return MEDIUM
    if media_count >= 10_000:
        return NICHE
    return TINY
