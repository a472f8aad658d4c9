"""The curated hashtag catalogue: labels → tags by popularity tier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from trends.tags import is_valid, normalise

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
TIERS = ("popular", "medium", "niche")


@dataclass(frozen=True)
class CatalogueTag:
    tag: str
    tier: str


class Catalogue:
    """Tags for a label: its own entry, or its ImageNet group's (all dog breeds → dog tags)."""

    def __init__(self, path: Path = CATALOGUE_FILE) -> None:
        raw = yaml.safe_load(path.read_text())
        self.labels = {normalise(k): self._tiers(v, k) for k, v in (raw.get("labels") or {}).items()}
        self.groups: list[tuple[int, int, list[CatalogueTag]]] = []
        for name, entry in (raw.get("groups") or {}).items():
            first, last = entry["imagenet"]
            if not 0 <= first <= last < 1000:
                raise ValueError(f"catalogue group {name}: ImageNet range {first}..{last} is outside 0..999")
            self.groups.append((first, last, self._tiers(entry, name)))

    @staticmethod
    def _tiers(entry: dict, name: str) -> list[CatalogueTag]:
        tags = []
        for tier in TIERS:
            for tag in entry.get(tier) or []:
                if not is_valid(normalise(str(tag))):
                    raise ValueError(f"catalogue entry {name!r}: {tag!r} is not a valid hashtag")
                tags.append(CatalogueTag(normalise(str(tag)), tier))
        unknown = set(entry) - set(TIERS) - {"imagenet"}
        if unknown:
            raise ValueError(f"catalogue entry {name!r}: unknown keys {sorted(unknown)}")
        return tags

    def has_entry(self, label: str) -> bool:
        """True when the label has tags of its own, not just its group's."""
        return normalise(label) in self.labels

    def lookup(self, label: str, imagenet_index: int | None = None) -> list[CatalogueTag]:
        """Tags for `label`; for an ImageNet class without its own entry, its group's."""
        own = self.labels.get(normalise(label))
        if own:
            return own
        if imagenet_index is not None:
            for first, last, tags in self.groups:
                if first <= imagenet_index <= last:
                    return tags
        return []
