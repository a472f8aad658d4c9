"""How an answer reads, independent of the chat platform's markup."""

from __future__ import annotations

from inference.classifier import Prediction
from trends.composer import ChosenTag, ComposedTags

TIER_NAMES = {
    "mega": "mega",
    "popular": "popular",
    "medium": "medium",
    "niche": "niche",
    "tiny": "small",
    "unknown": "not yet known",
}


def subject_line(prediction: Prediction) -> str:
    """'daisy (93 %)' when the custom head is sure; otherwise the ImageNet guess, said as a guess."""
    if prediction.confident:
        best = prediction.custom[0]
        return f"{best.name} ({best.score:.0%})"
    guesses = [f"{label.name} ({label.score:.0%})" for label in prediction.imagenet[:2] if label.score >= 0.05]
    return "looks like " + (" or ".join(guesses) if guesses else "nothing I know well")


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
    order = list(TIER_NAMES)
    counts: dict[str, int] = {}
    for t in tags:
        counts[t.tier] = counts.get(t.tier, 0) + 1
    return ", ".join(f"{n} {TIER_NAMES[tier]}" for tier, n in sorted(counts.items(), key=lambda x: order.index(x[0])))
