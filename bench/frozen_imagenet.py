"""Does the shipped model still see what ImageNet's MobileNetV2 sees? Its ImageNet probabilities against the frozen
model's on every ImageNet sample photo.

    .venv/bin/python -m bench.frozen_imagenet [--model models/flowers]

The custom head trains a copy of the top blocks, so the ImageNet output (and
the embedding, taught labels and the open set build on) must stay the original
backbone's: the Keras file to float tolerance. The served LiteRT file is int8,
so it is compared by its largest and mean differences and top-1 agreement.
Needs ../shared (the frozen model's weights and the sample photos) and the model
folder's `model.keras`, which `make train` writes and git does not keep.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.command import model_benchmark
from inference.classifier import Classifier
from inference.decode import decode_image
from inference.model_folder import KERAS_FILE

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
FROZEN_WEIGHTS = SHARED / "models" / "mobilenet_v2_1.0_224_imagenet.weights.h5"
SAMPLES = SHARED / "data" / "imagenet_samples"


def compare(model_dir: Path) -> dict:
    import keras

    import inference.model  # noqa: F401 - registers the model's own layers for loading

    images = np.stack([decode_image(path.read_bytes()) for path in sorted(SAMPLES.glob("*.jpg"))])
    frozen = keras.applications.MobileNetV2(weights=str(FROZEN_WEIGHTS))
    expected = frozen.predict(keras.applications.mobilenet_v2.preprocess_input(images.astype("float32")), verbose=0)
    shipped = keras.saving.load_model(model_dir / KERAS_FILE).predict(images.astype("float32"), verbose=0)[1]
    _, served, _ = Classifier(model_dir, people_model=None).run(images)

    def against(found: np.ndarray) -> dict:
        difference = np.abs(found - expected)
        agree = (found.argmax(axis=1) == expected.argmax(axis=1)).mean()
        return {"max_abs": float(difference.max()), "mean_abs": float(difference.mean()), "top1_agree": float(agree)}

    return {"photos": len(images), "keras": against(shipped), "litert": against(served)}


def main(argv: list[str] | None = None) -> int:
    return model_benchmark(
        argv,
        "frozen_imagenet",
        __doc__,
        lambda args: [FROZEN_WEIGHTS, SAMPLES, args.model / KERAS_FILE],
        lambda args: compare(args.model),
    )


if __name__ == "__main__":
    sys.exit(main())
