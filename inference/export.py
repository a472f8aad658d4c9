"""Write the serving artefacts: the LiteRT model and the files that describe it.

The bot reads only this folder: `model.tflite` (outputs: custom classes,
ImageNet classes, embedding), `labels.json` (class names and the output
layout) and, for people, `metrics.json` and `MODEL_CARD.md`. `class_stats.npz`
and `open_set.json` are added next (`inference.class_stats`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras
import numpy as np

from inference.model_folder import LABELS_FILE, METRICS_FILE, MODEL_FILE, PRECISIONS
from inference.report import write_model_card

OUTPUTS = ("custom", "imagenet", "embedding")  # the serving model's outputs, in order


def converted(saved_model: Path, precision: str, views: Sequence[np.ndarray] = ()) -> bytes:
    """A SavedModel as LiteRT at a precision (docs/benchmarks.md compares them).

    int8 (the default): weights and activations as 8-bit integers, their ranges
    measured on `views`, the training photos as training saw them (each photo
    and its augmented copies); inputs and outputs stay float. Half the CPU of
    float on these cores; dev accuracy, the open set and bench.real_photos
    within half a point of float or better (docs/benchmarks.md). The two
    softmaxes stay float: in int8 they come in steps of 1/256, so the ImageNet classes below 0.002 (a third of
    the probability on some photos, and what a subject such as "dog" adds up)
    would read as zero. fp16: float16 weights, which XNNPACK expands to float32
    at load (half the file of fp32, the same results). Only builtin ops: the
    bot's LiteRT runtime has no TensorFlow fallback.
    """
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision}")
    if precision == "int8" and not views:
        raise ValueError("int8 export needs the training views to measure activation ranges")
    convert = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    convert.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "fp16":
        convert.optimizations = [tf.lite.Optimize.DEFAULT]
        convert.target_spec.supported_types = [tf.float16]
    if precision != "int8":
        return convert.convert()

    def photos() -> Iterator[list[np.ndarray]]:
        return ([view[i : i + 1].astype(np.float32)] for view in views for i in range(len(view)))

    convert.optimizations = [tf.lite.Optimize.DEFAULT]
    convert.representative_dataset = photos
    selective = tf.lite.experimental.QuantizationDebugger(
        converter=convert,
        debug_dataset=photos,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["SOFTMAX"]),
    )
    return selective.get_nondebug_quantized_model()


def export_model(
    server: keras.Model,
    classes: list[str],
    metrics: dict,
    out: Path,
    precision: str = "int8",
    views: Sequence[np.ndarray] = (),
) -> Path:
    """Convert the serving graph to LiteRT and write its description beside it."""
    tflite = out / MODEL_FILE
    with tempfile.TemporaryDirectory() as saved:
        server.export(saved, format="tf_saved_model", verbose=False)
        tflite.write_bytes(converted(Path(saved), precision, views))
    version = f"{metrics['backbone']}-{hashlib.sha256(tflite.read_bytes()).hexdigest()[:12]}"
    metrics = {**metrics, "version": version, "precision": precision}
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
