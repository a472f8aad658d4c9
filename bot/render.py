"""How an answer reads, independent of the chat platform's markup."""

from __future__ import annotations

from inference.scene import Scene
from trends.composer import ChosenTag, ComposedTags
from trends.tiers import MEDIUM, MEGA, NICHE, ORDER, POPULAR, TINY, UNKNOWN

TIER_NAMES = {
    MEGA: "mega",
    POPULAR: "popular",
    MEDIUM: "medium",
    NICHE: "niche",
    TINY: "small",
    UNKNOWN: "not yet known",
}


def subject_line(scene: Scene) -> str:
    """What the answer names, in words: 'a cat (tabby)', '3 people at the beach'; honest when unsure."""
    return scene.line if scene.sure else "not sure what this shows: here are broad tags"


def human_count(count: int | None) -> str:
    if count is None:
        return "?"
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= limit:
            return f"{count / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(count)


def count_lines(tags: ComposedTags) -> list[str]:
    """'#daisy — 5.1M posts, popular' per tag."""
    return [f"#{t.tag} — {human_count(t.media_count)} posts, {TIER_NAMES[t.tier]}" for t in tags.tags]


def tier_summary(tags: tuple[ChosenTag, ...]) -> str:
    """'2 medium, 2 niche, 1 popular', for a one-line note under the tags."""
    order = list(ORDER)
    counts: dict[str, int] = {}
    for t in tags:
        counts[t.tier] = counts.get(t.tier, 0) + 1
    return ", ".join(f"{n} {TIER_NAMES[tier]}" for tier, n in sorted(counts.items(), key=lambda x: order.index(x[0])))
