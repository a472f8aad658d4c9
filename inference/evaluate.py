"""Score a trained model on any folder-per-class photo set, Keras and LiteRT side by side.

    python -m inference.evaluate --model models/flowers --data ../shared/data/flowers/dev
    python -m inference.evaluate --model models/flowers --data ../shared/data/flowers/dev \
        --unknown ../shared/data/imagenet_samples --exclude n11879895_rapeseed.jpg ...

Both models see the same decoded photos; the LiteRT file is what the bot
serves, so its figures are the ones that count. Their agreement is printed
too, because an export that changes predictions is a bug.

With `--unknown` (photos that are none of the classes) it also reports the
open-set figures, as the bot decides them: the share of the set's photos
claimed by their own class and by any class, and the share of unknown photos
any class claims (named, so they can be looked at).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.classifier import Classifier
from inference.dataset import IMAGE_SUFFIXES, PhotoSet, load_photo_set
from inference.decode import decode_image
from inference.model_folder import EARLIER_PRECISION, KERAS_FILE, METRICS_FILE
from inference.report import Scores, format_scores, score, write_model_card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inference.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model folder written by inference.train")
    parser.add_argument("--data", type=Path, required=True, help="folder with one sub-folder of photos per class")
    parser.add_argument("--tflite-only", action="store_true", help="skip the Keras model (no TensorFlow import)")
    parser.add_argument("--flip", action="store_true", help="also average with the mirrored photo (test-time flip)")
    parser.add_argument("--unknown", type=Path, help="a folder of photos that are none of the classes")
    parser.add_argument(
        "--exclude", nargs="*", default=[], help="file names in --unknown to leave out (they do show a class)"
    )
    parser.add_argument("--json", type=Path, help="write the scores here as JSON")
    parser.add_argument("--card", action="store_true", help="add these scores to the model card")
    parser.add_argument(
        "--compare", type=Path, help="another model folder (say a float export of the same training) to put beside it"
    )
    parser.add_argument(
        "--subsets", type=Path, help="a folder of models trained on fewer classes, each scored in its dev.json (card)"
    )
    return parser.parse_args(argv)


# "Hashtag Generation with Transfer Learning" (IJRASET 2021): MobileNetV2 on its own 3 classes, ~50 photos each.
PAPER_ACCURACY = 0.9625


def subset_table(folder: Path) -> list[str]:
    """One row per model in `folder` that was trained on some of the classes: its classes, its accuracy on the
    photos it was scored on (`dev.json`, from `--json`) and its weakest class; then their mean, beside the paper."""
    rows, accuracies = [], []
    for scores_file in sorted(folder.glob("*/dev.json")):
        scores = Scores(**json.loads(scores_file.read_text())["litert"])
        accuracies.append(scores.accuracy)
        weakest = min(scores.recall, key=scores.recall.get)
        rows.append(f"| {', '.join(scores.recall)} | {scores.accuracy:.1%} | {weakest} {scores.recall[weakest]:.1%} |")
    if not rows:
        raise FileNotFoundError(f"no */dev.json in {folder}: score each model there with --json")
    return [
        "| classes | accuracy | weakest class (recall) |",
        "|---|---:|---:|",
        *rows,
        f"| **mean of {len(rows)}** | **{sum(accuracies) / len(accuracies):.1%}** | |",
        f"| the paper, MobileNetV2 on its own 3 classes | {PAPER_ACCURACY:.2%} | |",
    ]


def keras_probabilities(model_dir: Path, images: np.ndarray) -> np.ndarray:
    """Custom-class probabilities from the saved Keras serving model."""
    import keras

    import inference.model  # noqa: F401 - registers the preprocessing layer for loading

    model = keras.saving.load_model(model_dir / KERAS_FILE)
    return model.predict(images.astype("float32"), batch_size=32, verbose=0)[0]


def tflite_probabilities(classifier: Classifier, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """Custom-class probabilities from the LiteRT model, in batches."""
    return np.concatenate([classifier.run(images[i : i + batch])[0] for i in range(0, len(images), batch)])


def claims(classifier: Classifier, images: np.ndarray, batch: int = 16) -> list[str | None]:
    """The class that claims each photo (inside its region, as the bot decides), or None."""
    predictions = [p for i in range(0, len(images), batch) for p in classifier.predict(images[i : i + batch])]
    return [p.custom[0].name if p.claimed else None for p in predictions]


@dataclass
class OpenSetFigures:
    """How a model's classes claim photos, as the bot decides: its own set's and unknown ones."""

    rule: str
    own: float
    anyone: float
    photos: int
    unknown: float
    unknown_photos: int
    taken: list[str]

    def lines(self, unknown: Path, left_out: int) -> list[str]:
        """Lines for the terminal and the model card."""
        return [
            f"classes claim photos {self.rule}",
            f"{self.own:.1%} of {self.photos} photos claimed by their own class, {self.anyone:.1%} by some class",
            f"{self.unknown:.1%} of {self.unknown_photos} unknown photos in `{unknown}` claimed ({left_out} left out)",
            "claimed: " + (", ".join(self.taken) if self.taken else "none"),
        ]


def open_set_figures(
    classifier: Classifier, photos: PhotoSet, unknown: list[tuple[Path, np.ndarray]]
) -> OpenSetFigures:
    claimed = claims(classifier, photos.images)
    own = sum(c == photos.classes[label] for c, label in zip(claimed, photos.labels, strict=True))
    taken = [
        f"{path.name} ({name})"
        for (path, _), name in zip(unknown, claims(classifier, np.stack([image for _, image in unknown])), strict=True)
        if name
    ]
    return OpenSetFigures(
        rule="inside their regions" if classifier.open_set else "by softmax (no open-set thresholds)",
        own=own / len(claimed),
        anyone=sum(c is not None for c in claimed) / len(claimed),
        photos=len(claimed),
        unknown=len(taken) / len(unknown),
        unknown_photos=len(unknown),
        taken=taken,
    )


def comparison(
    names: tuple[str, str], accuracies: tuple[Scores, Scores], figures: tuple[OpenSetFigures, OpenSetFigures] | None
) -> list[str]:
    """Two served models side by side (say int8 against the float export of the same training)."""
    rows = [("accuracy", *(f"{a.accuracy:.1%}" for a in accuracies))]
    if figures:
        rows += [
            ("claimed by their own class", *(f"{f.own:.1%}" for f in figures)),
            ("claimed by some class", *(f"{f.anyone:.1%}" for f in figures)),
            ("unknown photos claimed", *(f"{f.unknown:.1%}" for f in figures)),
        ]
    return [f"| | {names[0]} | {names[1]} |", "|---|---:|---:|", *(f"| {' | '.join(row)} |" for row in rows)]


def seen(photos: PhotoSet, flip: bool) -> list[np.ndarray]:
    """The photos, and with --flip their mirror images too (test-time flip averages over both)."""
    return [photos.images, photos.images[:, :, ::-1]] if flip else [photos.images]


def served(classifier: Classifier, views: list[np.ndarray]) -> np.ndarray:
    """Custom-class probabilities of the LiteRT model, averaged over the views."""
    return sum(tflite_probabilities(classifier, v) for v in views) / len(views)


def precision(model_dir: Path) -> str:
    return json.loads((model_dir / METRICS_FILE).read_text()).get("precision", EARLIER_PRECISION)


def evaluate(args: argparse.Namespace) -> dict[str, Scores]:
    classifier = Classifier(args.model, people_model=None)
    photos = load_photo_set(args.data, classes=classifier.classes)
    for path, why in photos.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    views = seen(photos, args.flip)
    results: dict[str, Scores] = {}
    probabilities: dict[str, np.ndarray] = {"litert": served(classifier, views)}
    if not args.tflite_only and (args.model / KERAS_FILE).exists():
        probabilities["keras"] = sum(keras_probabilities(args.model, v) for v in views) / len(views)
    for name, probs in probabilities.items():
        results[name] = score(photos.labels, probs.argmax(axis=1), photos.classes)
        print(format_scores(f"{name} on {args.data}", results[name], photos.classes), end="\n\n")
    unknown = []
    if args.unknown:
        paths = sorted(p for p in args.unknown.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        unknown = [(path, decode_image(path.read_bytes())) for path in paths if path.name not in args.exclude]
        figures = open_set_figures(classifier, photos, unknown)
        args.open_set = figures.lines(args.unknown, len(set(args.exclude)))
        print("\n".join(args.open_set))
    if "keras" in probabilities:
        agree = float((probabilities["keras"].argmax(1) == probabilities["litert"].argmax(1)).mean())
        gap = float(np.abs(probabilities["keras"] - probabilities["litert"]).max())
        print(f"Keras and LiteRT agree on {agree:.2%} of photos; largest probability difference {gap:.4f}")
    if args.compare:
        other = Classifier(args.compare, people_model=None)
        accuracy = score(photos.labels, served(other, views).argmax(axis=1), photos.classes)
        names = (f"{args.model} ({precision(args.model)})", f"{args.compare} ({precision(args.compare)})")
        pair = (figures, open_set_figures(other, photos, unknown)) if unknown else None
        args.comparison = comparison(names, (results["litert"], accuracy), pair)
        print("\n".join(args.comparison))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = evaluate(args)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps({k: v.as_dict() for k, v in results.items()}, indent=2) + "\n")
    if args.card:
        metrics = json.loads((args.model / METRICS_FILE).read_text())
        title = f"{args.data} ({'with' if args.flip else 'no'} test-time flip), LiteRT"
        open_set = {f"Open set on {args.data} and {args.unknown}": args.open_set} if args.unknown else None
        if args.compare:
            open_set = {**(open_set or {}), f"Against {args.compare}, on the same photos": args.comparison}
        if args.subsets:
            heading = f"Trained on fewer classes, as the paper ({args.subsets}; `make three-classes`)"
            open_set = {**(open_set or {}), heading: subset_table(args.subsets)}
        write_model_card(metrics, args.model, {title: results["litert"]}, open_set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
