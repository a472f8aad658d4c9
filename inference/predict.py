"""Print what the model sees in photos: the quickest way to try a model without a chat token.

python -m inference.predict photo.jpg [more.jpg ...] [--model models/flowers]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.classifier import DEFAULT_MODEL_DIR, Classifier, Prediction
from inference.decode import ImageRejected, decode_image


def describe(prediction: Prediction) -> str:
    """Two lines: the custom classes (or "not confident") and the ImageNet labels."""
    custom = ", ".join(f"{label.name} {label.score:.2f}" for label in prediction.custom)
    imagenet = ", ".join(f"{label.name} {label.score:.2f}" for label in prediction.imagenet)
    verdict = "" if prediction.confident else "  (not confident: none of the trained classes)"
    return f"  classes:  {custom}{verdict}\n  imagenet: {imagenet}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.predict", description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    classifier = Classifier(args.model)
    failed = 0
    for path in args.photos:
        try:
            image = decode_image(path.read_bytes())
        except (OSError, ImageRejected) as error:
            print(f"{path}: {error}")
            failed += 1
            continue
        print(f"{path}:\n{describe(classifier.predict(image[None])[0])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
