"""Write the serving artefacts: the LiteRT model and the files that describe it.

The bot reads only this folder: `model.tflite` (outputs: custom classes,
ImageNet classes, embedding), `labels.json` (class names and the output
layout) and, for people, `metrics.json` and `MODEL_CARD.md`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras

from inference.report import Scores, format_scores

MODEL_FILE = "model.tflite"
LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"
OUTPUTS = ("custom", "imagenet", "embedding")  # the serving model's outputs, in order


def export_model(server: keras.Model, classes: list[str], metrics: dict, out: Path) -> Path:
    """Convert the serving graph to LiteRT and write its description beside it.

    Weights are stored as float16 (half the file, so a fine-tuned model stays
    under 16 MB); XNNPACK expands them to float32 at load, so speed and
    results match the float32 Keras model within rounding. Only builtin ops
    are allowed: the bot's LiteRT runtime has no TensorFlow fallback.
    """
    import tensorflow as tf

    tflite = out / MODEL_FILE
    server.export(
        str(tflite),
        format="litert",
        verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT],
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS], "supported_types": [tf.float16]},
    )
    version = f"{metrics['backbone']}-{hashlib.sha256(tflite.read_bytes()).hexdigest()[:12]}"
    metrics = {**metrics, "version": version}
    labels = {
        "version": version,
        "classes": classes,
        "outputs": list(OUTPUTS),
        "backbone": metrics["backbone"],
    }
    (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n")
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(metrics, out)
    return tflite


def write_model_card(metrics: dict, out: Path, evaluations: dict[str, Scores] | None = None) -> None:
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
        "",
        "## Validation split" if held_out else "## Training photos (no validation split held out)",
        "",
        "```",
        format_scores("validation" if held_out else "training", validation, classes),
        "```",
    ]
    for title, scores in (evaluations or {}).items():
        lines += ["", f"## {title}", "", "```", format_scores(title, scores, classes), "```"]
    (out / CARD_FILE).write_text("\n".join(lines) + "\n")
