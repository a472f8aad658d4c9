"""Few-shot benchmark for teaching a new category from stored embeddings (groundwork for issue 8).

    .venv/bin/python -m bench.few_shot [--shots 10 30] [--draws 3]

For each flower class in turn: the class is "new", the other four keep all
their `train` photos, and the new one gets `shots` random `train` photos. A
class-weighted linear softmax head is refitted on the served model's pooled
embeddings (each photo and its mirror image, L2-normalised). It reports the
new class's recall on `dev` and how many points the other classes lose
against a head fitted without the new class.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.serving import FLOWERS_DEV
from inference.classifier import DEFAULT_MODEL_DIR, Classifier
from inference.dataset import load_photo_set

FLOWERS = FLOWERS_DEV.parent


def embeddings(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    """L2-normalised pooled embeddings of the photos and of their mirror images, stacked."""
    views = []
    for view in (images, images[:, :, ::-1]):
        views.append(np.concatenate([classifier.run(view[i : i + 16])[2] for i in range(0, len(view), 16)]))
    stacked = np.concatenate(views)
    return stacked / np.linalg.norm(stacked, axis=1, keepdims=True)


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float, steps: int = 300) -> np.ndarray:
    """Class-weighted multinomial logistic regression by Adam; returns weights with the bias as last row."""
    x = np.hstack([x, np.ones((len(x), 1))])
    weights = np.zeros((x.shape[1], classes))
    counts = np.bincount(y, minlength=classes)
    sample_weight = (len(y) / (classes * np.maximum(counts, 1)))[y]
    sample_weight /= sample_weight.sum()
    targets = np.eye(classes)[y]
    m = np.zeros_like(weights)
    v = np.zeros_like(weights)
    for step in range(1, steps + 1):
        logits = x @ weights
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = x.T @ ((p - targets) * sample_weight[:, None]) + l2 * weights
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        weights -= 0.005 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return weights


def predict(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (np.hstack([x, np.ones((len(x), 1))]) @ weights).argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.few_shot", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--l2", type=float, default=1e-2)
    args = parser.parse_args(argv)
    classifier = Classifier(args.model)
    train, dev = load_photo_set(FLOWERS / "train"), load_photo_set(FLOWERS / "dev")
    x_train, x_dev = embeddings(classifier, train.images), embeddings(classifier, dev.images)[: len(dev.labels)]
    y_train = np.tile(train.labels, 2)
    results = {}
    for shots in args.shots:
        recalls, losses, seconds = [], [], []
        for new in range(len(train.classes)):
            old = np.flatnonzero(train.labels != new)
            dev_old = dev.labels != new
            remap = {c: i for i, c in enumerate(c for c in range(len(train.classes)) if c != new)}
            rows = np.concatenate([old, old + len(train.labels)])
            without = fit_softmax(x_train[rows], np.array([remap[c] for c in y_train[rows]]), len(remap), args.l2)
            baseline = (predict(without, x_dev[dev_old]) == np.array([remap[c] for c in dev.labels[dev_old]])).mean()
            for draw in range(args.draws):
                chosen = np.random.default_rng(100 * draw + new).choice(
                    np.flatnonzero(train.labels == new), shots, replace=False
                )
                picked = np.concatenate([old, chosen])
                rows = np.concatenate([picked, picked + len(train.labels)])
                started = time.perf_counter()
                weights = fit_softmax(x_train[rows], y_train[rows], len(train.classes), args.l2)
                seconds.append(time.perf_counter() - started)
                predicted = predict(weights, x_dev)
                recalls.append(float((predicted[dev.labels == new] == new).mean()))
                losses.append(float(baseline - (predicted[dev_old] == dev.labels[dev_old]).mean()))
        results[f"{shots} shots"] = {
            "taught_recall_mean": float(np.mean(recalls)),
            "taught_recall_min": float(np.min(recalls)),
            "taught_recall_max": float(np.max(recalls)),
            "other_classes_points_lost": 100 * float(np.mean(losses)),
            "refit_seconds_median": float(np.median(seconds)),
        }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
