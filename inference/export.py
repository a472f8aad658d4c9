"""Write the serving artefacts: the LiteRT model and the files that describe it.

The bot reads only this folder: `model.tflite` (outputs: custom classes,
ImageNet classes, embedding), `labels.json` (class names and the output
layout) and, for people, `metrics.json` and `MODEL_CARD.md`. `class_stats.npz`
and `open_set.json` are added next (`inference.class_stats`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras

from inference.model_folder import LABELS_FILE, METRICS_FILE, MODEL_FILE
from inference.report import write_model_card

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
