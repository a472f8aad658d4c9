"""What the open set and teaching share of a model's embedding: each class's mean and their pooled spread.

The embedding is the original ImageNet backbone's, which retraining the head
never changes: statistics and taught examples survive a new model. What writes
them from photos is `inference.class_stats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.model_folder import STATS_FILE


def unit(embeddings: np.ndarray) -> np.ndarray:
    """Embeddings scaled to length 1, as float64: heads compare directions, not brightness or clutter."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    return embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)


def shrunk_covariance(scatter: np.ndarray, rows: int, shrinkage: float) -> np.ndarray:
    """The pooled covariance pulled towards a sphere of its own size: a few hundred photos leave a
    1280-dimensional one singular. Built in place, as these matrices are 8–13 MB each."""
    covariance = scatter / max(rows, 1)
    size = len(covariance)
    sphere = shrinkage * np.trace(covariance) / size
    covariance *= 1 - shrinkage
    covariance.flat[:: size + 1] += sphere
    return covariance


@dataclass(frozen=True)
class ClassStats:
    """Per-class mean embeddings and their pooled within-class scatter: all a head needs of its data."""

    names: tuple[str, ...]
    means: np.ndarray
    photos: np.ndarray
    scatter: np.ndarray
    rows: int

    @classmethod
    def from_examples(cls, examples: Mapping[str, np.ndarray]) -> ClassStats:
        """From name → photos×views×dim embeddings."""
        names = tuple(examples)
        if not names:
            return cls((), np.zeros((0, 0)), np.zeros(0, dtype=int), np.zeros((0, 0)), 0)
        examples = {name: unit(examples[name]) for name in names}
        means = np.stack([examples[name].reshape(-1, examples[name].shape[-1]).mean(axis=0) for name in names])
        residuals = np.concatenate(
            [examples[name].reshape(-1, means.shape[1]) - mean for name, mean in zip(names, means, strict=True)]
        )
        return cls(
            names,
            means,
            np.array([len(examples[name]) for name in names]),
            residuals.T @ residuals,
            len(residuals),
        )

    def __add__(self, other: ClassStats) -> ClassStats:
        if not other.names:
            return self
        if not self.names:
            return other
        return ClassStats(
            self.names + other.names,
            np.concatenate([self.means, other.means]),
            np.concatenate([self.photos, other.photos]),
            self.scatter + other.scatter,
            self.rows + other.rows,
        )

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            names=np.array(self.names),
            means=self.means.astype(np.float32),
            photos=self.photos,
            scatter=self.scatter.astype(np.float32),
            rows=self.rows,
        )

    @classmethod
    def load(cls, path: Path) -> ClassStats:
        with np.load(path) as data:
            return cls(
                tuple(str(name) for name in data["names"]),
                data["means"].astype(np.float64),
                data["photos"],
                data["scatter"].astype(np.float64),
                int(data["rows"]),
            )


def load_trained_stats(model_dir: Path) -> ClassStats | None:
    """The model's class statistics, or None for a model exported before they existed."""
    path = model_dir / STATS_FILE
    return ClassStats.load(path) if path.exists() else None
