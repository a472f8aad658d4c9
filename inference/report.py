"""Accuracy figures and the files that document a trained model.

Training and evaluation report the same numbers the same way, so a model
card and an evaluation run can be compared line by line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class Scores:
    """Accuracy, per-class precision/recall and the confusion matrix (rows = truth)."""

    accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    confusion: list[list[int]]
    count: int

    def as_dict(self) -> dict:
        return asdict(self)


def score(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> Scores:
    """Score class indices against the truth."""
    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    hits = np.diag(confusion)
    column = confusion.sum(axis=0)
    row = confusion.sum(axis=1)
    precision = {c: float(hits[i] / column[i]) if column[i] else 0.0 for i, c in enumerate(classes)}
    recall = {c: float(hits[i] / row[i]) if row[i] else 0.0 for i, c in enumerate(classes)}
    return Scores(float(hits.sum() / max(len(truth), 1)), precision, recall, confusion.tolist(), len(truth))


def format_scores(title: str, scores: Scores, classes: list[str]) -> str:
    """A plain-text table for terminals and model cards."""
    width = max(len(c) for c in classes)
    lines = [f"{title}: accuracy {scores.accuracy:.2%} on {scores.count} photos", ""]
    lines.append(f"{'class':<{width}}  precision  recall")
    for c in classes:
        lines.append(f"{c:<{width}}  {scores.precision[c]:9.2%}  {scores.recall[c]:6.2%}")
    lines.append("")
    lines.append("confusion (rows = true class, columns = predicted):")
    lines.append(" " * (width + 2) + " ".join(f"{c[:6]:>6}" for c in classes))
    for c, counts in zip(classes, scores.confusion, strict=True):
        lines.append(f"{c:<{width}}  " + " ".join(f"{v:>6}" for v in counts))
    return "\n".join(lines)


def plot_confusion(scores: Scores, classes: list[str], path: Path) -> None:
    """Save the confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(scores.confusion)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_title(f"accuracy {scores.accuracy:.1%}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Save loss and accuracy per epoch (training and validation) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key in (metric, f"val_{metric}"):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
