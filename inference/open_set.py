"""Whether a photo lies inside a class's region: the one rule by which any class, trained or taught, claims a photo.

A softmax over five flowers always sums to 1, so on its own it called most
of the ImageNet sample photos (cats, cars, portraits) a flower. Here a class
claims a photo only when the photo's embedding lies within `radius` of the
class's mean, in a Mahalanobis distance measured in the directions the
ImageNet classifier uses: the unit embedding is projected through the 1000
ImageNet class weights, and the classes' pooled within-class covariance
there, shrunk towards its average variance (`SHRINKAGE`), whitens it. Those
directions are where a banana, a coral reef or a face differs from a flower;
measured on the flower model (bench/real_photos.py and docs/benchmarks.md),
the same rule in the raw embedding space let through twice as many
non-flower photos at the same share of flower photos kept.

Distances are in units of the training photos' own average distance to their
class mean (`spread`), so one radius serves every class, and taught classes
(`inference.few_shot`) are judged by the same radius. The radius is
calibrated on held-out folds of the training photos: the distance within
which `CLAIM_SHARE` of held-out photos lie from their own class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.embedding_stats import ClassStats, load_trained_stats, shrunk_covariance, unit
from inference.model_folder import REGIONS_FILE

log = logging.getLogger(__name__)
SHRINKAGE = 0.8
CLAIM_SHARE = 0.95
FOLDS = 10


@dataclass(frozen=True)
class Regions:
    """The metric every class region is measured in, and the radius that bounds them.

    `transform` maps a unit embedding into the whitened ImageNet-logit space (dim×1000), where the
    distance is Euclidean; dividing by `spread` puts it in units of the training photos' own distance.
    """

    transform: np.ndarray
    spread: float
    radius: float

    @classmethod
    def fit(
        cls, stats: ClassStats, imagenet_weights: np.ndarray, radius: float = np.inf, shrinkage: float = SHRINKAGE
    ) -> Regions:
        """The metric from the trained classes' statistics and the ImageNet layer's weights (dim×1000)."""
        weights = np.asarray(imagenet_weights, dtype=np.float64)
        scatter = weights.T @ stats.scatter @ weights
        values, vectors = np.linalg.eigh(shrunk_covariance(scatter, stats.rows, shrinkage))
        whitening = vectors / np.sqrt(values)
        spread = float(np.einsum("ij,ij->", whitening, scatter @ whitening) / max(stats.rows, 1))
        return cls((weights @ whitening).astype(np.float32), spread, radius)

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """N×dim embeddings (or means of unit embeddings) → N×1000 points where regions are round."""
        return (unit(embeddings) if embeddings.ndim > 1 else unit(embeddings[None])).astype(np.float32) @ self.transform

    def centres(self, unit_means: np.ndarray) -> np.ndarray:
        """Class means (already means of unit embeddings, so not rescaled) in the projected space."""
        return np.asarray(unit_means, dtype=np.float32) @ self.transform

    def distances(self, points: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """N×K squared distances in units of `spread`."""
        squared = (points**2).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres**2).sum(axis=1)[None]
        return np.maximum(squared, 0) / self.spread


def calibrate(
    examples: Mapping[str, np.ndarray], imagenet_weights: np.ndarray, folds: int = FOLDS, seed: int = 0
) -> dict:
    """The radius within which `CLAIM_SHARE` of held-out training photos lie from their own class.

    `examples` maps class → photos×views×dim; each fold's statistics come from the other folds'
    views and each held-out photo is measured by its first view, the one a reply looks at.
    """
    rng = np.random.default_rng(seed)
    fold_of = {name: rng.permutation(len(photos)) % folds for name, photos in examples.items()}
    held_out = []
    for fold in range(folds):
        kept = {name: photos[fold_of[name] != fold] for name, photos in examples.items()}
        if any(len(photos) == 0 for photos in kept.values()):
            continue
        stats = ClassStats.from_examples(kept)
        regions = Regions.fit(stats, imagenet_weights)
        centres = regions.centres(stats.means)
        for k, (name, photos) in enumerate(examples.items()):
            tested = photos[fold_of[name] == fold]
            if len(tested):
                held_out.extend(regions.distances(regions.project(tested[:, 0]), centres[k : k + 1])[:, 0])
    if not held_out:
        raise ValueError("too few training photos to calibrate the open-set radius (need two per class)")
    radius = float(np.quantile(held_out, CLAIM_SHARE))
    return {
        "radius": round(radius, 4),
        "claim_share": CLAIM_SHARE,
        "shrinkage": SHRINKAGE,
        "folds": folds,
        "held_out_photos": len(held_out),
    }


def save_calibration(model_dir: Path, calibration: dict) -> None:
    (model_dir / REGIONS_FILE).write_text(json.dumps(calibration, indent=2) + "\n")


def load_regions(model_dir: Path, imagenet_weights: np.ndarray) -> tuple[Regions, ClassStats] | None:
    """The model's regions and class statistics, or None for a model calibrated before they existed."""
    path = model_dir / REGIONS_FILE
    stats = load_trained_stats(model_dir)
    if stats is None or not path.is_file():
        return None
    calibration = json.loads(path.read_text())
    regions = Regions.fit(stats, imagenet_weights, float(calibration["radius"]), float(calibration["shrinkage"]))
    return regions, stats
