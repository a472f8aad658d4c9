"""The curated hashtag catalogue: labels and subjects → tags by popularity tier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from trends.tags import is_valid, normalise, tags_from_label, words_of
from trends.tiers import CURATED

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
# Shorter words ("a", "of") say nothing about what a tag is for; "cat" and "dog" do.
MIN_WORD = 3


@dataclass(frozen=True)
class CatalogueTag:
    tag: str
    tier: str


def entry_key(name: str) -> str:
    """A name as the catalogue files it: one tag ("Big cat", "big cat" and "bigcat" are one entry).

    Answers look entries up by name and the refresher by its Instagram search, which is the name as one tag.
    """
    return (tags_from_label(name) or [normalise(name)])[0]


class Catalogue:
    """Tags for what an answer names: a class or ImageNet label (`labels`), or a coarse subject (`subjects`)."""

    def __init__(self, path: Path = CATALOGUE_FILE) -> None:
        raw = yaml.safe_load(path.read_text())
        unknown = set(raw) - {"labels", "subjects"}
        if unknown:
            raise ValueError(f"catalogue: unknown sections {sorted(unknown)}")
        self.labels = {entry_key(k): self._tiers(v, k) for k, v in (raw.get("labels") or {}).items()}
        self.subjects = {entry_key(k): self._tiers(v, k) for k, v in (raw.get("subjects") or {}).items()}
        names = [*(raw.get("labels") or {}), *(raw.get("subjects") or {})]
        # The words the catalogue's names are made of: what a tag repeats when it repeats a subject.
        self.words = frozenset(w for name in names for w in words_of(name) if len(w) >= MIN_WORD)

    @staticmethod
    def _tiers(entry: dict, name: str) -> list[CatalogueTag]:
        tags = []
        for tier in CURATED:
            for tag in entry.get(tier) or []:
                if not is_valid(normalise(str(tag))):
                    raise ValueError(f"catalogue entry {name!r}: {tag!r} is not a valid hashtag")
                tags.append(CatalogueTag(normalise(str(tag)), tier))
        unknown = set(entry) - set(CURATED)
        if unknown:
            raise ValueError(f"catalogue entry {name!r}: unknown keys {sorted(unknown)}")
        return tags

    def lookup(self, name: str) -> list[CatalogueTag]:
        """Tags for a label (a class, a taught label, an ImageNet label) or, failing that, a subject."""
        key = entry_key(name)
        return self.labels.get(key) or self.subjects.get(key) or []
