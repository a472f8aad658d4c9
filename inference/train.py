"""Train a transfer model on a folder-per-class photo set and export it for the bot.

    python -m inference.train --data ../shared/data/flowers/train --out runs/flowers

Writes into --out: model.keras (the serving graph, for evaluation), model.tflite
(what the bot loads), labels.json, class_stats.npz (what lets the bot learn new
classes next to these), open_set.json (the radius within which a class claims a
photo, calibrated on held-out folds of the training photos), metrics.json,
confusion.png, training.png and MODEL_CARD.md; with --taught also taught.npz.
Everything the bot needs is in that one folder, so a model is swapped by
swapping the folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from inference.model_folder import PRECISIONS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inference.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder of photos per class")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the model and its reports")
    parser.add_argument("--backbone", default="mobilenetv2", choices=["mobilenetv2", "resnet50", "vgg16"])
    parser.add_argument("--weights", type=Path, help="ImageNet weights with top (.weights.h5) for the backbone")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR, help="where default weights live")
    parser.add_argument("--epochs", type=int, default=20, help="head epochs (early stopping on validation)")
    parser.add_argument("--fine-tune", type=int, default=0, metavar="N", help="also fine-tune the top N blocks")
    parser.add_argument("--fine-tune-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--views", type=int, default=4, help="1 + augmented copies of each training photo")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout before the custom head")
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision", default="int8", choices=PRECISIONS, help="how model.tflite stores the network (default int8)"
    )
    parser.add_argument(
        "--taught", type=Path, help="fold classes taught in the chat (deploy/export_taught.py's file) into the model"
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="random backbone (for tests only: the model will be useless)"
    )
    return parser.parse_args(argv)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out `fraction` of every class, so a small class is never missing from validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        cut = round(len(idx) * fraction)
        val.extend(idx[:cut])
        train.extend(idx[cut:])
    return np.sort(np.asarray(train)), np.sort(np.asarray(val, dtype=np.int64))


def train(args: argparse.Namespace) -> dict:
    """Run the whole training and export; returns the metrics written to metrics.json."""
    import keras
    import tensorflow as tf

    from inference.class_stats import write_model_stats
    from inference.dataset import load_photo_set
    from inference.export import export_model
    from inference.few_shot import load_taught
    from inference.model import BACKBONES, build_model, resolve_weights, weights_sha256
    from inference.model_folder import KERAS_FILE
    from inference.report import plot_confusion, plot_history, score

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    backbone = BACKBONES[args.backbone]
    weights = None if args.random_weights else resolve_weights(backbone, args.weights, args.models_dir)

    photos = load_photo_set(args.data)
    for path, why in photos.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    train_idx, val_idx = stratified_split(photos.labels, args.val_split, args.seed)
    x, y = photos.images.astype("float32"), photos.labels
    print(f"{len(photos.classes)} classes, {len(train_idx)} training and {len(val_idx)} validation photos")

    model = build_model(len(photos.classes), backbone, weights, args.fine_tune, args.dropout, args.seed)
    history: dict[str, list[float]] = {}

    # The backbone below the split point is frozen, so its output is computed once per
    # photo view (the photo itself plus augmented copies) and the trainable part then
    # trains for many epochs on the cache: minutes instead of an hour on two cores.
    lower = model.features()

    def split_features(images: np.ndarray) -> np.ndarray:
        return lower.predict(images, batch_size=args.batch_size, verbose=0)

    def augmented(images: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(model.augment(images[i : i + args.batch_size], training=True))
                for i in range(0, len(images), args.batch_size)
            ]
        )

    views = [x[train_idx]] + [augmented(x[train_idx]) for _ in range(args.views - 1)]
    print(f"computing frozen features for {args.views} view(s) of {len(train_idx)} photos")
    split_train = np.concatenate([split_features(v) for v in views])
    y_train = np.tile(y[train_idx], args.views)
    split_val = split_features(x[val_idx]) if len(val_idx) else None

    def pooled(split: np.ndarray) -> np.ndarray:
        return model.upper.predict(split, batch_size=args.batch_size, verbose=0)[0]

    def fit(fine_tune: bool, inputs: np.ndarray, val_inputs: np.ndarray | None, rate: float, epochs: int) -> None:
        trainer = model.head_trainer(fine_tune)
        trainer.compile(
            optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        validation = (val_inputs, y[val_idx]) if val_inputs is not None else None
        monitor = "val_accuracy" if validation else "accuracy"
        stop = keras.callbacks.EarlyStopping(monitor, patience=args.patience, restore_best_weights=True)
        result = trainer.fit(
            inputs,
            y_train,
            batch_size=args.batch_size,
            epochs=epochs,
            shuffle=True,
            validation_data=validation,
            callbacks=[stop],
            verbose=2,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)

    fit(
        False,
        pooled(split_train),
        pooled(split_val) if split_val is not None else None,
        args.learning_rate,
        args.epochs,
    )
    if args.fine_tune:
        fit(True, split_train, split_val, args.learning_rate / 100, args.fine_tune_epochs)
    server = model.serving()

    args.out.mkdir(parents=True, exist_ok=True)
    server.save(args.out / KERAS_FILE)
    eval_idx = val_idx if len(val_idx) else train_idx
    predicted = server.predict(x[eval_idx], batch_size=args.batch_size, verbose=0)[0].argmax(axis=1)
    val_scores = score(y[eval_idx], predicted, photos.classes)
    plot_confusion(val_scores, photos.classes, args.out / "confusion.png")
    plot_history(history, args.out / "training.png")
    metrics = {
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": "python -m inference.train " + shlex.join(args.argv),
        "data": str(args.data),
        "classes": photos.classes,
        "train_count": len(train_idx),
        "held_out": bool(len(val_idx)),
        "validation": val_scores.as_dict(),
        "backbone": backbone.name,
        "weights_sha256": weights_sha256(weights) if weights else "random",
        "fine_tune_blocks": args.fine_tune,
        "seed": args.seed,
        "epochs_run": len(history.get("loss", [])),
        "taught_classes": [t.name for t in load_taught(args.taught)] if args.taught else [],
        "history": history,
    }
    export_model(server, photos.classes, metrics, args.out, args.precision, views)
    print("computing class statistics and calibrating the open-set radius")
    trained_photos = {
        name: [photos.paths[i] for i in train_idx if y[i] == index] for index, name in enumerate(photos.classes)
    }
    metrics["open_set"] = write_model_stats(args.out, trained_photos, args.taught)
    return metrics


def main(argv: list[str] | None = None) -> int:
    from inference.model import BackboneUnavailable

    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    try:
        metrics = train(args)
    except (BackboneUnavailable, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    key = "validation_accuracy" if metrics["held_out"] else "training_accuracy"
    print(json.dumps({key: metrics["validation"]["accuracy"], "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
