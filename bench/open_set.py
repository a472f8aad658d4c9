"""Open-set rules compared: how many non-flower photos each lets a flower class claim, at the same flowers kept.

    .venv/bin/python -m bench.open_set

Every rule is fitted on `../shared/data/flowers/train` (12 views per photo,
as `inference.class_stats` does) and judged on the served view of
`../shared/data/flowers/dev` (the flowers) and `../shared/data/imagenet_samples`
without the photos that show flowers (`bench/expected/imagenet_samples.tsv`).
For each rule the threshold is set on dev to keep 95 % (and 97.5 %) of the
flower photos, which puts the rules on an equal footing; the share of
ImageNet samples still claimed is what separates them. The last line is the
shipped rule with its radius calibrated on the training photos, as the bot runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.command import model_benchmark
from bench.real_photos import EXPECTED, SHARED, read_tsv
from inference.class_stats import embed_photos
from inference.classifier import Classifier
from inference.dataset import list_photos
from inference.decode import decode_image
from inference.embedding_stats import ClassStats, unit
from inference.open_set import Regions


def served(classifier: Classifier, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, best-class indexes and best-class softmax of the view a reply looks at."""
    embeddings, custom = [], []
    for start in range(0, len(paths), 16):
        images = np.stack([decode_image(p.read_bytes()) for p in paths[start : start + 16]])
        probabilities, _, embedding = classifier.run(images)
        embeddings.append(embedding)
        custom.append(probabilities)
    probabilities = np.concatenate(custom)
    return np.concatenate(embeddings), probabilities.argmax(axis=1), probabilities.max(axis=1)


def claimed_at(flowers: np.ndarray, others: np.ndarray, keep: float) -> float:
    """Share of other photos at or under the distance that keeps `keep` of the flowers."""
    return float((others <= np.quantile(flowers, keep)).mean())


def run(model: Path) -> dict:
    classifier = Classifier(model, people_model=None)
    weights = classifier.imagenet_layer()[0]
    examples = embed_photos(classifier, list_photos(SHARED / "flowers" / "train", classifier.classes))
    stats = ClassStats.from_examples(examples)
    dev_paths = [p for paths in list_photos(SHARED / "flowers" / "dev", classifier.classes).values() for p in paths]
    flowers = {row[0] for row in read_tsv(EXPECTED / "imagenet_samples.tsv") if row[1] == "yes"}
    other_paths = sorted(p for p in (SHARED / "imagenet_samples").glob("*.jpg") if p.name not in flowers)
    dev, dev_best, dev_top = served(classifier, dev_paths)
    other, other_best, other_top = served(classifier, other_paths)

    def region_distances(regions: Regions, embeddings: np.ndarray, best: np.ndarray) -> np.ndarray:
        distances = regions.distances(regions.project(embeddings), regions.centres(stats.means))
        return distances[np.arange(len(best)), best]

    rules: dict[str, tuple[np.ndarray, np.ndarray]] = {"softmax of the custom head": (-dev_top, -other_top)}
    for shrinkage in (0.5, 0.8):
        identity = Regions.fit(stats, np.eye(weights.shape[0]), shrinkage=shrinkage)
        rules[f"Mahalanobis in the embedding, shrinkage {shrinkage}"] = (
            region_distances(identity, dev, dev_best),
            region_distances(identity, other, other_best),
        )
        logit = Regions.fit(stats, weights, shrinkage=shrinkage)
        rules[f"Mahalanobis through the ImageNet weights, shrinkage {shrinkage}"] = (
            region_distances(logit, dev, dev_best),
            region_distances(logit, other, other_best),
        )
    rows = unit(np.concatenate([e.reshape(-1, e.shape[-1]) for e in examples.values()]))
    row_class = np.concatenate([np.full(e.shape[0] * e.shape[1], k) for k, e in enumerate(examples.values())])

    def knn(embeddings: np.ndarray, best: np.ndarray, k: int = 20) -> np.ndarray:
        similarity = unit(embeddings) @ rows.T
        return np.array([-np.sort(s[row_class == b])[-k] for s, b in zip(similarity, best, strict=True)])

    rules["cosine distance to the 20th nearest training view"] = (knn(dev, dev_best), knn(other, other_best))
    results = {
        "flower dev photos": len(dev_paths),
        "ImageNet samples without flowers": len(other_paths),
        "claimed when 95 % / 97.5 % of flowers are kept": {
            name: [round(claimed_at(d, o, 0.95), 3), round(claimed_at(d, o, 0.975), 3)]
            for name, (d, o) in rules.items()
        },
        "before: softmax >= 0.5": {
            "flowers claimed": round(float((dev_top >= 0.5).mean()), 3),
            "ImageNet samples claimed": round(float((other_top >= 0.5).mean()), 3),
        },
    }
    shipped = classifier.regions
    if shipped is not None:
        d = region_distances(shipped, dev, dev_best)
        o = region_distances(shipped, other, other_best)
        results["shipped (radius calibrated on held-out training photos)"] = {
            "radius": shipped.radius,
            "flowers claimed": round(float((d <= shipped.radius).mean()), 3),
            "ImageNet samples claimed": round(float((o <= shipped.radius).mean()), 3),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    return model_benchmark(
        argv, "open_set", __doc__, lambda args: [SHARED / "imagenet_samples"], lambda args: run(args.model)
    )


if __name__ == "__main__":
    sys.exit(main())
