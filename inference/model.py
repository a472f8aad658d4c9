"""Build the transfer model: a frozen ImageNet backbone, its original top, and our head.

Training-time only: importing this module imports Keras (and TensorFlow). The
bot serves the exported `.tflite` file through `inference.classifier` instead.

The model takes plain RGB (0–255, 224×224) and returns three outputs:

- ``custom``: softmax over the admin's own classes (the part we train),
- ``imagenet``: the backbone's original 1000-class softmax, so any photo gets labels,
- ``embedding``: the pooled features, which later lets the bot learn a class from a few photos.

Preprocessing is a layer inside the model, so whoever serves it cannot get it wrong.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import keras

from inference.decode import MODEL_SIZE


@dataclass(frozen=True)
class Backbone:
    """What differs between the architectures the paper compared."""

    name: str
    build: str
    preprocess: str
    block_pattern: str
    default_weights: str | None


BACKBONES = {
    "mobilenetv2": Backbone(
        "mobilenetv2", "MobileNetV2", "tf", r"^(block_\d+|Conv_1)", "mobilenet_v2_1.0_224_imagenet.weights.h5"
    ),
    "resnet50": Backbone("resnet50", "ResNet50", "caffe", r"^(conv\d_block\d+)", None),
    "vgg16": Backbone("vgg16", "VGG16", "caffe", r"^(block\d+|fc\d)", None),
}

CUSTOM = "custom"


class BackboneUnavailable(Exception):
    """No weights for the requested backbone: we refuse to train one from scratch."""


@keras.saving.register_keras_serializable(package="hashtag_bot")
class ImagenetPreprocess(keras.layers.Layer):
    """The backbone's own input scaling, carried inside the model."""

    _CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

    def __init__(self, mode: str = "tf", **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        if self.mode == "tf":
            return inputs / 127.5 - 1.0
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self._CAFFE_MEAN_BGR, dtype=inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def weights_sha256(path: Path) -> str:
    """Identify the backbone weights by content, as keras.applications does."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_weights(backbone: Backbone, weights: Path | None, models_dir: Path) -> Path:
    """Find the backbone's ImageNet weights (with top) on disk, never on the network."""
    if weights is None and backbone.default_weights:
        weights = models_dir / backbone.default_weights
    if weights is None or not weights.is_file():
        where = weights or f"--weights (none shipped for {backbone.name})"
        raise BackboneUnavailable(
            f"Backbone {backbone.name} is unavailable: no ImageNet weights at {where}. "
            "Training offline needs a local '.weights.h5' file with the ImageNet top."
        )
    return weights


def _split_point(base: keras.Model, backbone: Backbone, blocks: int) -> str | None:
    """Name of the first layer of the top `blocks` blocks, where the tuned copy starts."""
    if blocks <= 0:
        return None
    pattern = re.compile(backbone.block_pattern)
    first_layer: dict[str, str] = {}
    for layer in base.layers:
        match = pattern.match(layer.name)
        if match:
            first_layer.setdefault(match.group(1), layer.name)
    names = list(first_layer.values())
    return names[-min(blocks, len(names))]


@dataclass
class TransferModel:
    """The pieces of the transfer model, so training can cache what never changes.

    `lower` (frozen) maps preprocessed RGB to the split point; `upper` (frozen)
    gives the pooled embedding and the ImageNet softmax; `tuned` (optional) is
    the trainable copy of the top blocks; `head` is the custom softmax.
    """

    preprocess: keras.layers.Layer
    lower: keras.Model
    upper: keras.Model
    tuned: keras.Model | None
    head: keras.layers.Dense
    augment: keras.Sequential
    dropout: float
    seed: int
    name: str

    def head_trainer(self, fine_tune: bool) -> keras.Model:
        """Trains on cached features: pooled embeddings, or split-point tensors when fine-tuning."""
        if fine_tune and self.tuned is not None:
            inputs = keras.Input(self.tuned.input.shape[1:], name="split")
            features = self.tuned(inputs)
        else:
            inputs = keras.Input(self.upper.outputs[0].shape[1:], name="pooled")
            features = inputs
        features = keras.layers.Dropout(self.dropout, seed=self.seed)(features)
        return keras.Model(inputs, self.head(features), name=f"{self.name}_head")

    def features(self) -> keras.Model:
        """RGB → frozen split-point tensor: computed once per photo view during training."""
        inputs = keras.Input((MODEL_SIZE, MODEL_SIZE, 3), name="rgb")
        return keras.Model(inputs, self.lower(self.preprocess(inputs), training=False), name=f"{self.name}_lower")

    def serving(self) -> keras.Model:
        """RGB in; custom softmax, ImageNet softmax and embedding out."""
        inputs = keras.Input((MODEL_SIZE, MODEL_SIZE, 3), name="rgb")
        hidden = self.lower(self.preprocess(inputs), training=False)
        pooled, imagenet = self.upper(hidden, training=False)
        custom_features = self.tuned(hidden, training=False) if self.tuned else pooled
        return keras.Model(inputs, [self.head(custom_features), imagenet, pooled], name=f"{self.name}_serving")


def build_model(
    num_classes: int,
    backbone: Backbone,
    weights: Path | None,
    fine_tune_blocks: int = 0,
    dropout: float = 0.2,
    seed: int = 0,
) -> TransferModel:
    """Build the transfer model; `weights=None` gives a random backbone for tests.

    Fine-tuning the top blocks would change what the ImageNet top sees, and the
    bot relies on that top to label any photo. So the fine-tuned blocks are a
    copy feeding only our head; the original blocks keep serving the ImageNet
    labels and the embedding. The copy costs about a quarter of the backbone.
    BatchNorm never trains: the shipped weights have it folded into a bias.
    """
    base = getattr(keras.applications, backbone.build)(
        include_top=True,
        weights=str(weights) if weights else None,
        input_shape=(MODEL_SIZE, MODEL_SIZE, 3),
        classifier_activation="softmax",
    )
    base.trainable = False
    split = _split_point(base, backbone, fine_tune_blocks)
    split_tensor = base.get_layer(split).input if split else base.input
    lower = keras.Model(base.input, split_tensor, name="backbone_lower")
    upper = keras.Model(split_tensor, [base.layers[-2].output, base.output], name="backbone_upper")
    tuned = None
    if split:
        twin = getattr(keras.applications, backbone.build)(
            include_top=True, weights=None, input_shape=(MODEL_SIZE, MODEL_SIZE, 3)
        )
        tuned = keras.Model(twin.get_layer(split).input, twin.layers[-2].output, name="tuned_upper")
        for layer in tuned.layers:
            if layer.weights:
                layer.set_weights(upper.get_layer(layer.name).get_weights())
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return TransferModel(
        preprocess=ImagenetPreprocess(backbone.preprocess, name="preprocess"),
        lower=lower,
        upper=upper,
        tuned=tuned,
        head=keras.layers.Dense(num_classes, activation="softmax", name=CUSTOM),
        augment=keras.Sequential(
            [
                keras.layers.RandomFlip("horizontal", seed=seed),
                keras.layers.RandomRotation(0.08, seed=seed + 1),
                keras.layers.RandomZoom((-0.25, 0.0), seed=seed + 2),
                keras.layers.RandomContrast(0.2, seed=seed + 3),
            ],
            name="augment",
        ),
        dropout=dropout,
        seed=seed,
        name=backbone.name,
    )
