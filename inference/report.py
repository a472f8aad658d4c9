"""Accuracy figures and the files that document a trained model.

Training and evaluation report the same numbers the same way, so a model
card and an evaluation run can be compared line by line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inference.model_folder import CARD_FILE, EARLIER_PRECISION


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


PRECISION_NOTES = {
    "int8": "int8 weights and activations (post-training quantization; ranges measured on the training views), "
    "float input and outputs",
    "fp16": "float16 weights, computed in float32",
    "fp32": "float32",
}


def write_model_card(
    metrics: dict,
    out: Path,
    evaluations: dict[str, Scores] | None = None,
    open_set_evaluations: dict[str, list[str]] | None = None,
) -> None:
    """A short human-readable account of where the model came from and how good it is."""
    classes = metrics["classes"]
    validation = Scores(**metrics["validation"])
    held_out = metrics.get("held_out", True)
    taught = metrics.get("taught_classes", [])
    lines = [
        f"# Model card: {metrics['version']}",
        "",
        f"- Created: {metrics['created']}",
        f"- Backbone: {metrics['backbone']} (ImageNet weights sha256 `{metrics['weights_sha256']}`), frozen, "
        f"BatchNorm frozen; top {metrics['fine_tune_blocks']} blocks fine-tuned as a copy feeding the custom head",
        f"- Classes ({len(classes)}): {', '.join(classes)}",
        f"- Training data: `{metrics['data']}`, {metrics['train_count']} photos for training, "
        + (f"{validation.count} held out for validation" if held_out else "none held out")
        + f" (seed {metrics['seed']}, {metrics['epochs_run']} epochs)",
        f"- Command: `{metrics['command']}`",
        *(
            [f"- Taught classes folded in (recognised from their stored examples): {', '.join(taught)}"]
            if taught
            else []
        ),
        "- Outputs: custom-class softmax, the original ImageNet 1000-class softmax, the pooled embedding",
        "- Input: 224×224 RGB, 0–255; preprocessing is inside the model",
        f"- Stored as: {PRECISION_NOTES[metrics.get('precision', EARLIER_PRECISION)]}",
        "",
        "## Validation split" if held_out else "## Training photos (no validation split held out)",
        "",
        "```",
        format_scores("validation" if held_out else "training", validation, classes),
        "```",
    ]
    open_set = metrics.get("open_set")
    lines += ["", "## Open set", ""]
    if open_set:
        lines += [
            f"A class claims a photo only inside its region: within {open_set['radius']} of its mean (in units of "
            "the training photos' own spread), in the ImageNet-logit Mahalanobis metric "
            f"(shrinkage {open_set['shrinkage']}). The radius keeps {open_set['claim_share']:.0%} of "
            f"{open_set['held_out_photos']} training photos held out in {open_set['folds']} folds.",
        ]
    else:
        lines.append("Not calibrated: any photo may be claimed by the best class (`python -m inference.class_stats`).")
    for title, scores in (evaluations or {}).items():
        lines += ["", f"## {title}", "", "```", format_scores(title, scores, classes), "```"]
    for title, figures in (open_set_evaluations or {}).items():
        lines += ["", f"## {title}", "", *(line if line.startswith("|") else f"- {line}" for line in figures)]
    (out / CARD_FILE).write_text("\n".join(lines) + "\n")
