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
import time
from dataclasses import dataclass
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
    parser.add_argument(
        "--fine-tune-rate", type=float, help="learning rate of the fine-tuning epochs (default: --learning-rate / 100)"
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="cross-validate the recipe instead: K trainings, each scored on the photos it did not see",
    )
    parser.add_argument("--classes", help="train on these classes of --data only (comma-separated folder names)")
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
    from inference.class_stats import write_model_stats
    from inference.export import export_model
    from inference.few_shot import load_taught
    from inference.model import weights_sha256
    from inference.model_folder import KERAS_FILE
    from inference.report import plot_confusion, plot_history, score

    recipe = Recipe(args)
    photos = recipe.photos
    train_idx, val_idx = stratified_split(photos.labels, args.val_split, args.seed)
    x, y = photos.images.astype("float32"), photos.labels
    print(f"{len(photos.classes)} classes, {len(train_idx)} training and {len(val_idx)} validation photos")
    model = recipe.model()
    views = recipe.views(model, x[train_idx])
    held_out = [x[val_idx]] if len(val_idx) else []
    split_train, *split_val = recipe.split_features(model, [np.concatenate(views), *held_out])
    y_train = np.tile(y[train_idx], args.views)
    validation = (split_val[0], y[val_idx]) if split_val else None
    progress = Progress(recipe.plan(len(split_train), ""))
    history = recipe.fit(model, split_train, y_train, validation, progress)
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
        "backbone": recipe.backbone.name,
        "weights_sha256": weights_sha256(recipe.weights) if recipe.weights else "random",
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


def cross_validate(args: argparse.Namespace) -> dict:
    """Score the recipe without touching a held-out set: `--folds` trainings, each on all photos but one
    fold's and scored on that fold's. Writes cross_validation.json into --out; exports nothing.

    Every choice of the recipe is made on these figures, so the dev set is looked at once, at the end.
    The frozen lower part sees each photo view once for all folds.
    """
    from inference.report import score

    recipe = Recipe(args)
    photos = recipe.photos
    x, y = photos.images.astype("float32"), photos.labels
    fold_of = folds(y, args.folds, args.seed)
    first = recipe.model()
    split = recipe.split_features(first, recipe.views(first, x))
    train_size = int(np.sum(fold_of != 0)) * args.views
    progress = Progress(
        [step for k in range(args.folds) for step in recipe.plan(train_size, f"fold {k + 1}/{args.folds} · ")]
    )
    predicted = np.zeros_like(y)
    accuracy = []
    for k in range(args.folds):
        model = first if k == 0 else recipe.model()
        train_idx, test_idx = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        inputs = np.concatenate([view[train_idx] for view in split])
        recipe.fit(model, inputs, np.tile(y[train_idx], args.views), None, progress)
        predicted[test_idx] = recipe.custom_scores(model, split[0][test_idx]).argmax(axis=1)
        accuracy.append(float(np.mean(predicted[test_idx] == y[test_idx])))
        print(f"fold {k + 1}/{args.folds}: {accuracy[-1]:.1%} of {len(test_idx)} photos")
    scores = score(y, predicted, photos.classes)
    result = {
        "command": "python -m inference.train " + shlex.join(args.argv),
        "classes": photos.classes,
        "folds": accuracy,
        "accuracy": scores.accuracy,
        "recall": scores.recall,
        "confusion": scores.confusion,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cross_validation.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def folds(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Each photo's fold, 0..count-1: every class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        fold_of[idx] = np.arange(len(idx)) % count
    return fold_of


class Recipe:
    """How a model is trained from the command line's choices: one recipe for the shipped model and for
    each fold of its cross-validation, so what is scored is what ships."""

    def __init__(self, args: argparse.Namespace) -> None:
        import keras
        import tensorflow as tf

        from inference.dataset import list_classes, load_photo_set
        from inference.model import BACKBONES, resolve_weights

        keras.utils.set_random_seed(args.seed)
        tf.config.experimental.enable_op_determinism()
        self.args = args
        self.backbone = BACKBONES[args.backbone]
        self.weights = None if args.random_weights else resolve_weights(self.backbone, args.weights, args.models_dir)
        chosen = sorted(name.strip() for name in args.classes.split(",")) if args.classes else None
        unknown = sorted(set(chosen or ()) - set(list_classes(args.data)))
        if unknown:
            raise ValueError(f"--classes names no folder of {args.data}: {', '.join(unknown)}")
        self.photos = load_photo_set(args.data, chosen)
        for path, why in self.photos.skipped:
            print(f"skipped {path}: {why}", file=sys.stderr)

    def model(self):
        from inference.model import build_model

        args = self.args
        return build_model(
            len(self.photos.classes), self.backbone, self.weights, args.fine_tune, args.dropout, args.seed
        )

    def views(self, model, images: np.ndarray) -> list[np.ndarray]:
        """The photos as training sees them: themselves, then `--views` - 1 augmented copies."""
        import keras

        size = self.args.batch_size

        def augmented() -> np.ndarray:
            return np.concatenate(
                [
                    keras.ops.convert_to_numpy(model.augment(images[i : i + size], training=True))
                    for i in range(0, len(images), size)
                ]
            )

        print(f"computing frozen features for {self.args.views} view(s) of {len(images)} photos")
        return [images] + [augmented() for _ in range(self.args.views - 1)]

    def split_features(self, model, images: list[np.ndarray]) -> list[np.ndarray]:
        """The frozen lower part's output for each array of photos, computed once per view: the trainable
        part then trains for many epochs on this cache, minutes instead of an hour on two cores."""
        lower = model.features()
        return [lower.predict(batch, batch_size=self.args.batch_size, verbose=0) for batch in images]

    def plan(self, samples: int, where: str) -> list[Step]:
        args = self.args
        steps = [Step(where, "head", args.epochs, samples)]
        if args.fine_tune:
            steps.append(Step(where, "fine-tuning", args.fine_tune_epochs, samples))
        return steps

    def fit(
        self,
        model,
        split_train: np.ndarray,
        y_train: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        progress: Progress,
    ) -> dict[str, list[float]]:
        """The head on pooled features, then (with --fine-tune) the head and the tuned copy of the top blocks."""
        args = self.args
        history: dict[str, list[float]] = {}

        def pooled(split: np.ndarray) -> np.ndarray:
            return model.upper.predict(split, batch_size=args.batch_size, verbose=0)[0]

        def fit(fine_tune: bool, inputs: np.ndarray, held_out: tuple | None, rate: float, epochs: int) -> None:
            import keras

            trainer = model.head_trainer(fine_tune)
            classes = len(self.photos.classes)
            trainer.compile(
                optimizer=keras.optimizers.Adam(rate),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
                metrics=["accuracy"],
            )
            held_out = (held_out[0], keras.utils.to_categorical(held_out[1], classes)) if held_out else None
            monitor = "val_accuracy" if held_out else "accuracy"
            stop = keras.callbacks.EarlyStopping(monitor, patience=args.patience, restore_best_weights=True)
            result = trainer.fit(
                inputs,
                keras.utils.to_categorical(y_train, classes),
                batch_size=args.batch_size,
                epochs=epochs,
                shuffle=True,
                validation_data=held_out,
                callbacks=[stop, progress.step()],
                verbose=0,
            )
            for key, values in result.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)

        held_out = (pooled(validation[0]), validation[1]) if validation else None
        fit(False, pooled(split_train), held_out, args.learning_rate, args.epochs)
        if args.fine_tune:
            rate = args.fine_tune_rate or args.learning_rate / 100
            fit(True, split_train, validation, rate, args.fine_tune_epochs)
        return history

    def custom_scores(self, model, split: np.ndarray) -> np.ndarray:
        """The custom head's probabilities for split-point tensors."""

        def features(batch: np.ndarray):
            if model.tuned is not None:
                return model.tuned(batch, training=False)
            return model.upper(batch, training=False)[0]

        step = self.args.batch_size
        batches = (split[i : i + step] for i in range(0, len(split), step))
        return np.concatenate([np.asarray(model.head(features(batch))) for batch in batches])


@dataclass
class Step:
    """One `fit` of the training: where (the fold), what kind, its epochs and the photo views each goes through."""

    where: str
    kind: str
    epochs: int
    samples: int


class Progress:
    """One line per epoch: where the training is and about how long it has left.

    Measured, not guessed: the mean seconds a photo view took in each kind of epoch (the head alone
    on pooled features is some fifty times cheaper than fine-tuning), times what remains. An
    early stop skips the rest of its step.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps, self.current = steps, -1
        self.timed: dict[str, tuple[float, int]] = {}  # per kind of epoch: seconds and photo views so far

    def step(self):
        """The callback for the next `fit`."""
        import keras

        self.current += 1
        progress, step = self, self.steps[self.current]

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.began = time.monotonic()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                seconds, samples = progress.timed.get(step.kind, (0.0, 0))
                progress.timed[step.kind] = (seconds + time.monotonic() - self.began, samples + step.samples)
                figures = " ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items())
                where = f"{step.where}{step.kind} epoch {epoch + 1}/{step.epochs}"
                print(f"{where} · {figures} · {progress.left(epoch + 1)}")

        return Callback()

    def left(self, epochs_done: int) -> str:
        step = self.steps[self.current]
        remaining = [(step, step.epochs - epochs_done), *((s, s.epochs) for s in self.steps[self.current + 1 :])]
        rates = {kind: seconds / samples for kind, (seconds, samples) in self.timed.items()}
        seconds = round(sum(epochs * s.samples * rates[s.kind] for s, epochs in remaining if s.kind in rates))
        minutes, seconds = divmod(seconds, 60)
        left = f"about {minutes} min {seconds:02d} s left" if minutes else f"about {seconds} s left"
        unmeasured = list(dict.fromkeys(s.kind for s, epochs in remaining if epochs and s.kind not in rates))
        return f"{left} before {', '.join(unmeasured)} (timed on its first epoch)" if unmeasured else left


def main(argv: list[str] | None = None) -> int:
    from inference.model import BackboneUnavailable

    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    try:
        if args.folds:
            result = cross_validate(args)
            print(json.dumps({"cross_validated_accuracy": result["accuracy"], "folds": result["folds"]}))
            return 0
        metrics = train(args)
    except (BackboneUnavailable, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    key = "validation_accuracy" if metrics["held_out"] else "training_accuracy"
    print(json.dumps({key: metrics["validation"]["accuracy"], "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
