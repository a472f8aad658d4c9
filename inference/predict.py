"""Print what the model sees in photos: the quickest way to try a model without a chat token.

python -m inference.predict photo.jpg [more.jpg ...] [--model models/flowers]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.classifier import Classifier
from inference.decode import ImageRejected, decode_photo
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.scene import describe
from inference.values import Prediction


def describe_prediction(prediction: Prediction, classifier: Classifier) -> str:
    """The custom classes (and whether the best claims the photo), ImageNet labels, subjects, people, the answer."""
    custom = ", ".join(f"{label.name} {label.score:.2f}" for label in prediction.custom)
    if prediction.region is not None:
        verdict = f"  ({'inside' if prediction.claimed else 'outside'} its region: {prediction.region:.2f} radii)"
    else:
        verdict = "" if prediction.claimed else "  (not confident: none of the trained classes)"
    imagenet = ", ".join(f"{label.name} {label.score:.2f}" for label in prediction.imagenet)
    subjects = ", ".join(f"{label.name} {label.score:.2f}" for label in prediction.subjects) or "-"
    people = prediction.people
    seen = f"{people.count} blob(s), {people.share:.0%} of the photo" if people and people.present else "none seen"
    return (
        f"  classes:  {custom}{verdict}\n  imagenet: {imagenet}\n  subjects: {subjects}\n  people:   {seen}\n"
        f"  answer:   {describe(prediction, classifier.subject_tree).line}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.predict", description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    classifier = Classifier(args.model)
    failed = 0
    for path in args.photos:
        try:
            image, whole = decode_photo(
                path.read_bytes(), whole_side=classifier.people.side if classifier.people else None
            )
        except (OSError, ImageRejected) as error:
            print(f"{path}: {error}")
            failed += 1
            continue
        print(f"{path}:\n{describe_prediction(classifier.predict(image[None], [whole])[0], classifier)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
