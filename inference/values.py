"""The plain values the models' findings travel in: what a photo was seen to show, and what a taught class is.

Storage, trends, the configuration and the answer's wording use these
without loading any model runtime; only `inference.classifier` and
`inference.people` import LiteRT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A class is seen when it covers this share of the people model's grid (7 of 289 cells): below it, on
# coco128, the model's stray cells on photos without people outnumber the small people it finds.
SEEN_SHARE = 0.025
# An image whose every colour channel varies less than this (standard deviation, 0–255) is plain.
PLAIN_SPREAD = 4.0


@dataclass(frozen=True)
class Label:
    """A class name with the model's probability for it; `index` is the class's output position.

    A taught label (index -1) carries the hashtags it was taught with.
    """

    name: str
    score: float
    index: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class People:
    """What the segmentation saw: people (share of the photo, blobs, the largest) and other VOC classes."""

    share: float
    count: int
    largest: float
    objects: tuple[tuple[str, float], ...] = ()

    @property
    def present(self) -> bool:
        return self.share >= SEEN_SHARE


NOBODY = People(0.0, 0, 0.0)


@dataclass(frozen=True)
class Prediction:
    """What the models saw in one photo.

    `claimed` is True when the best custom class claims the photo: it lies
    inside that class's region (`region`, its distance as a share of the
    radius, is at most 1), or, for a model without open-set thresholds, the
    softmax is above the confidence threshold. Otherwise the photo is none
    of the trained classes and `custom` is only what the softmax preferred.
    `subjects` are the coarse subjects the ImageNet probabilities add up to.
    `plain` is a blank, single-colour or near-uniform image: there is nothing
    to name, whatever the models say of it (they call a black square "daisy").
    """

    custom: tuple[Label, ...]
    imagenet: tuple[Label, ...]
    claimed: bool
    model_version: str
    embedding: np.ndarray = field(repr=False, compare=False)
    subjects: tuple[Label, ...] = ()
    people: People | None = None
    region: float | None = None
    plain: bool = False


@dataclass(frozen=True)
class TaughtClass:
    """A class the trained head does not know: its photos' embeddings and the tags it was taught with."""

    name: str
    examples: np.ndarray
    tags: tuple[str, ...] = ()
