"""Classes taught from a few photos, next to the trained head.

A taught class is the mean of its photos' pooled embeddings, scaled to unit
length (each photo seen in the 12 views of `decode_views`). One covariance,
shared by every class and shrunk halfway towards its average variance,
decides which class a photo is nearest (shrinkage LDA). A photo whose one
view leaves a taught class in the running is judged again on 6 views, as its
class's examples were. In `bench/few_shot.py`, taught with 10 photos, it
recognises more of the new class than a refitted softmax head or cosine
nearest-mean, and costs the other classes less (docs/benchmarks.md, issue 8).

Two corrections make it work with ten photos. A mean of n photos sits off the
true centre, so the class's own photos look farther than they are; its score
gets back the expected extra distance, half the average squared distance / n.
And the trained classes take part with their statistics from training
(`class_stats.npz`), so a photo gets a taught label only when it is closer
to that class than to every trained class. It must also lie inside the
taught class's region, by the same rule and radius that let a trained class
claim a photo (`inference.open_set`). Otherwise the trained head answers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.embedding_stats import ClassStats, shrunk_covariance, unit
from inference.open_set import Regions
from inference.values import Label, Prediction, TaughtClass

SHRINKAGE = 0.5
MIN_EXAMPLES = 5
# A photo is looked at again on more views when a taught class is within this many radii of it.
SECOND_LOOK = 2.0


def pool_views(embeddings: np.ndarray) -> np.ndarray:
    """One photo's views×dim embeddings as one direction: the photo seen as its class's examples were."""
    return unit(unit(embeddings).mean(axis=0))


@dataclass(frozen=True)
class FewShotHead:
    """Fitted shrinkage LDA over the trained classes' statistics and the taught classes, with their regions."""

    names: tuple[str, ...]
    taught: tuple[TaughtClass | None, ...]
    weights: np.ndarray
    bias: np.ndarray
    regions: Regions
    centres: np.ndarray
    allowance: np.ndarray

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """LDA discriminants, N×classes."""
        return unit(embeddings) @ self.weights + self.bias

    def nearest(self, embeddings: np.ndarray) -> np.ndarray:
        return self.scores(embeddings).argmax(axis=1)

    def _distances(self, embeddings: np.ndarray) -> np.ndarray:
        """N×classes region distances, in radii, less each taught class's allowance for a mean of few photos."""
        raw = self.regions.distances(self.regions.project(embeddings), self.centres)
        return (raw - self.allowance) / self.regions.radius

    def in_question(self, embedding: np.ndarray) -> bool:
        """Whether one view leaves a taught class in the running: nearest or runner-up, and not far off.

        Such a photo is worth a look at more views (`pool_views`), as its
        class's examples had: one view is a noisier glance than the means it
        is compared with. Other photos skip the extra work.
        """
        scores = self.scores(embedding[None])[0]
        distances = self._distances(embedding[None])[0]
        return any(self.taught[k] is not None and distances[k] <= SECOND_LOOK for k in np.argsort(-scores)[:2])

    def match(self, embedding: np.ndarray) -> tuple[TaughtClass, float] | None:
        """The taught class this photo belongs to, with its posterior; None leaves the photo to the trained head."""
        scores = self.scores(embedding[None])[0]
        best = int(scores.argmax())
        taught = self.taught[best]
        if taught is None or self._distances(embedding[None])[0, best] > 1.0:
            return None
        posterior = np.exp(scores - scores[best])
        return taught, float(1.0 / posterior.sum())

    def apply(self, prediction: Prediction, views: np.ndarray | None = None) -> Prediction:
        """The prediction with a matching taught label in place of the trained head's; unchanged otherwise.

        `views` (the photo's views×dim embeddings, when `in_question`) are judged in place of the one view.
        The trained classes are dropped: the photo was judged closer to the taught class than to any of them.
        """
        found = self.match(prediction.embedding if views is None else pool_views(views))
        if found is None:
            return prediction
        taught, score = found
        return dataclasses.replace(
            prediction, custom=(Label(taught.name, score, -1, taught.tags),), claimed=True, region=None
        )


def usable(taught: list[TaughtClass]) -> list[TaughtClass]:
    """The taught classes with enough photos to be used (MIN_EXAMPLES); the rest wait for more."""
    return [t for t in taught if len(t.examples) >= MIN_EXAMPLES]


def fit_head(trained: ClassStats, taught: list[TaughtClass], regions: Regions) -> FewShotHead:
    """Fit on the trained statistics plus every usable taught class."""
    ready = usable(taught)
    stats = trained + ClassStats.from_examples({str(i): t.examples for i, t in enumerate(ready)})
    precision = np.linalg.inv(shrunk_covariance(stats.scatter, stats.rows, SHRINKAGE))
    weights = precision @ stats.means.T
    spread = float(np.einsum("ij,ji->", precision, stats.scatter) / max(stats.rows, 1))
    bias = -0.5 * np.einsum("kd,dk->k", stats.means, weights) + 0.5 * spread / np.maximum(stats.photos, 1)
    return FewShotHead(
        names=trained.names + tuple(t.name for t in ready),
        taught=(None,) * len(trained.names) + tuple(ready),
        weights=weights,
        bias=bias,
        regions=regions,
        centres=regions.centres(stats.means),
        # A mean of n photos sits off the true centre, which puts the class's own photos on average
        # 1/n spread farther away; trained classes' radius was calibrated with that in it already.
        allowance=np.array([0.0] * len(trained.names) + [1 / len(t.examples) for t in ready]),
    )


def resemblance(head: FewShotHead, examples: np.ndarray) -> tuple[str, float] | None:
    """The class most of these photos already pass for (name, share), judged by a head that lacks them.

    Teaching a class the model already tells apart (a "yellow flower" made of
    dandelions) only splits answers between two labels; the admin is warned.
    """
    if not head.names:
        return None
    first_views = examples[:, 0]
    nearest = head.nearest(first_views)
    close = head._distances(first_views)[np.arange(len(nearest)), nearest] <= 1.0
    counts = np.bincount(nearest[close], minlength=len(head.names))
    best = int(counts.argmax())
    share = counts[best] / len(examples)
    return (head.names[best], float(share)) if share >= 0.5 else None


def save_taught(path: Path, taught: list[TaughtClass]) -> None:
    """One file of taught classes: what the export CLI writes and a model directory ships (`TAUGHT_FILE`)."""
    arrays = {f"examples_{i}": t.examples.astype(np.float16) for i, t in enumerate(taught)}
    meta = [{"name": t.name, "tags": list(t.tags)} for t in taught]
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def load_taught(path: Path) -> list[TaughtClass]:
    if not path.exists():
        return []
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return [
            TaughtClass(entry["name"], data[f"examples_{i}"].astype(np.float32), tuple(entry["tags"]))
            for i, entry in enumerate(meta)
        ]
