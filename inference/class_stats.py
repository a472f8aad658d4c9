"""What a model keeps of its training photos: each class's mean embedding and their pooled spread.

    python -m inference.class_stats --data <training photos> --model <model folder>

`inference.train` writes `class_stats.npz` and the open-set thresholds
(`open_set.json`) into every model folder; this command adds both to a model
exported before they existed. Taught labels compete with the trained classes
through these statistics (`inference.few_shot`), and every class, trained or
taught, claims only photos inside its region (`inference.open_set`).

The statistics themselves, and why they survive a new model, are `inference.embedding_stats`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from inference.classifier import Classifier
from inference.dataset import list_photos
from inference.decode import ImageRejected, decode_views
from inference.embedding_stats import ClassStats
from inference.few_shot import load_taught, save_taught
from inference.model_folder import DEFAULT_MODEL_DIR, LABELS_FILE, METRICS_FILE, STATS_FILE, TAUGHT_FILE
from inference.open_set import calibrate, save_calibration
from inference.report import write_model_card


def photo_views_embeddings(classifier: Classifier, data: bytes) -> np.ndarray:
    """views×dim embeddings of one photo, for scripts (the bot batches through `Classifier.classify`)."""
    return classifier.run(decode_views(data))[2]


def embed_photos(classifier: Classifier, photos: Mapping[str, list[Path]]) -> dict[str, np.ndarray]:
    """name → photos×views×dim embeddings of the training photos; unreadable photos are skipped."""
    examples = {}
    for name, paths in photos.items():
        embedded = []
        for path in paths:
            try:
                embedded.append(photo_views_embeddings(classifier, path.read_bytes()))
            except ImageRejected:
                continue
        examples[name] = np.stack(embedded)
    return examples


def write_model_stats(model_dir: Path, photos: Mapping[str, list[Path]], taught: Path | None = None) -> dict:
    """Write `class_stats.npz` and the calibrated `open_set.json` next to an exported model.

    The calibration is added to `metrics.json` and the model card; a taught-classes file, when
    given, is folded in as `taught.npz`. Returns the calibration.
    """
    classifier = Classifier(model_dir, people_model=None)
    examples = embed_photos(classifier, photos)
    ClassStats.from_examples(examples).save(model_dir / STATS_FILE)
    calibration = calibrate(examples, classifier.imagenet_layer()[0])
    save_calibration(model_dir, calibration)
    metrics_file = model_dir / METRICS_FILE
    if metrics_file.is_file():
        metrics = {**json.loads(metrics_file.read_text()), "open_set": calibration}
        metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
        write_model_card(metrics, model_dir)
    if taught is not None:
        save_taught(model_dir / TAUGHT_FILE, load_taught(taught))
    return calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.class_stats", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the training photos, <data>/<class>/*.jpg")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--taught", type=Path, help="fold this taught-classes export into the model")
    args = parser.parse_args(argv)
    photos = list_photos(args.data, json.loads((args.model / LABELS_FILE).read_text())["classes"])
    calibration = write_model_stats(args.model, photos, args.taught)
    print(json.dumps({"classes": list(photos), "open_set": calibration, "out": str(args.model)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
