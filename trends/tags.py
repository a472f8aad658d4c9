"""What a valid hashtag is, and the tags a label's own words suggest."""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_TAG_LENGTH = 100
_VALID = re.compile(r"^[^\W_][\w]*$")


def normalise(tag: str) -> str:
    """Lower-case, NFC, no leading '#': the form tags are compared and stored in."""
    return unicodedata.normalize("NFC", tag.strip().lstrip("#")).casefold()


def is_valid(tag: str) -> bool:
    """Letters (any script), digits and underscores; not only digits; no spaces or punctuation."""
    return 0 < len(tag) <= MAX_TAG_LENGTH and bool(_VALID.match(tag)) and not tag.replace("_", "").isdigit()


def words_of(name: str) -> list[str]:
    """`"Egyptian cat"` → `["egyptian", "cat"]`, normalised."""
    return [w for w in re.split(r"[^\w]+", normalise(name)) if w]


def tags_from_label(label: str) -> list[str]:
    """`"Egyptian cat"` → `["egyptiancat", "cat"]`: the whole name, then its head noun."""
    words = words_of(label)
    if not words:
        return []
    candidates = ["".join(words)]
    if len(words) > 1:
        candidates.append(words[-1])
    return [tag for tag in dict.fromkeys(candidates) if is_valid(tag)]


@functools.lru_cache(maxsize=8192)
def tag_words(tag: str, vocabulary: frozenset[str]) -> frozenset[str]:
    """The known words a tag starts or ends with: 'catoftheday' and 'instacat' → {'cat'}, 'portraits' → {'portrait'}.

    Hashtags run their words together, so a tag is read from both ends against the words the
    catalogue's subjects and labels are made of; what lies between ("oftheday") is left alone.
    Every answer ranks a few dozen tags from a bounded set, so each is read once.
    """
    plural = tag[:-1] if tag.endswith("s") else tag
    ends = {tag[:k] for k in range(1, len(tag) + 1)} | {tag[-k:] for k in range(1, len(tag) + 1)}
    ends |= {plural[-k:] for k in range(1, len(plural) + 1)}
    return frozenset(ends & vocabulary)


def repeated_word(tags: list[str], vocabulary: frozenset[str], times: int) -> str | None:
    """A word that `times` or more of the tags share ('portrait' in #portraits #portraitmood …), or None."""
    counts: dict[str, int] = {}
    for tag in tags:
        for word in tag_words(tag, vocabulary):
            counts[word] = counts.get(word, 0) + 1
    return next((word for word, n in sorted(counts.items()) if n >= times), None)
