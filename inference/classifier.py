"""Serve the exported model with LiteRT, shared by every chat adapter.

The bot process never imports TensorFlow: LiteRT starts in a fraction of the
time and memory. Each interpreter runs on one thread of its own, in batches
of whatever is waiting (`inference.batching`): the classifier and the people
model side by side, each on one core, neither waiting for the other's batch.
Given more threads, XNNPACK's idle workers spun while the other model worked
(docs/benchmarks.md, issue 23).

Each photo gets the model's three outputs read as facts: which trained class
claims it (only from inside that class's region, `inference.open_set`), the
ImageNet labels and the coarse subjects they add up to (`inference.subjects`),
and, from the whole frame, whether it shows people (`inference.people`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from inference.batching import Batcher
from inference.decode import MODEL_SIZE
from inference.embedding_stats import ClassStats
from inference.model_folder import DEFAULT_MODEL_DIR, LABELS_FILE, MODEL_FILE, REGIONS_FILE
from inference.open_set import Regions, load_regions
from inference.people import PEOPLE_MODEL, PeopleDetector
from inference.subjects import SubjectTree
from inference.values import PLAIN_SPREAD, Label, People, Prediction

IMAGENET_LABELS = Path(__file__).with_name("imagenet_labels.txt")
# Threads each interpreter runs on beside the people model. Two interpreters side by side, each on one
# thread, keep two cores busy without XNNPACK's idle workers spinning while the other model works
# (docs/benchmarks.md, issue 23). A classifier alone (scripts, calibration) gets every core.
INTERPRETER_THREADS = 1
# How closely the ImageNet layer read from the file must reproduce the model's own output: an int8 model's
# logits come in steps of about 0.07 before its float softmax (0.002 off on the probe; a float model's agree
# within 1e-6; a wrong bias is off by 0.02).
PROBE_TOLERANCE = 1e-2
# Subjects below this probability are not passed on at all; `inference.scene` decides which are sure.
SUBJECT_FLOOR = 0.05
log = logging.getLogger(__name__)


def model_backbone(model_dir: Path) -> str:
    """Which backbone made the model's embeddings (stored examples are only comparable within one)."""
    return json.loads((model_dir / LABELS_FILE).read_text()).get("backbone", "mobilenetv2")


def load_imagenet_labels(path: Path = IMAGENET_LABELS) -> list[str]:
    """Short ImageNet class names; line k+1 of the file is Keras class k ("tench, Tinca tinca" → "tench")."""
    lines = path.read_text().splitlines()
    return [line.split(",")[0].strip() for line in lines[1:1001]]


def dequantized(value: np.ndarray, quantization: dict) -> np.ndarray:
    """A stored tensor as float32: an int8 model keeps its weights as integers with a scale per channel."""
    scales = quantization["scales"]
    if not len(scales):
        return value.astype(np.float32)
    shape = [1] * value.ndim
    shape[quantization["quantized_dimension"]] = -1
    zero_points = quantization["zero_points"].reshape(shape)
    return ((value.astype(np.float32) - zero_points) * scales.reshape(shape)).astype(np.float32)


class Classifier:
    """LiteRT classifier: sync `predict` for scripts, async `classify` for the bot."""

    def __init__(
        self,
        model_dir: Path = DEFAULT_MODEL_DIR,
        threads: int | None = None,
        max_batch: int = 8,
        confidence: float = 0.5,
        top_k: int = 3,
        people_model: Path | None = PEOPLE_MODEL,
    ) -> None:
        self.model_dir = model_dir
        meta = json.loads((model_dir / LABELS_FILE).read_text())
        self.classes: list[str] = meta["classes"]
        self.version: str = meta["version"]
        self.backbone = model_backbone(model_dir)
        self.imagenet_classes = load_imagenet_labels()
        self.subject_tree = SubjectTree()
        self.confidence = confidence
        self.top_k = top_k
        self.max_batch = max_batch
        threads = threads or (INTERPRETER_THREADS if people_model else os.cpu_count() or 1)
        self._interpreter = Interpreter(str(model_dir / MODEL_FILE), num_threads=threads)
        self._runner = self._interpreter.get_signature_runner()
        self._input_name = next(iter(self._runner.get_input_details()))
        self.people = PeopleDetector(people_model, threads) if people_model else None
        self._lock = threading.Lock()
        self._classifying = Batcher(lambda images: self._classify_batch(np.stack(images)), max_batch, "litert")
        self._seeing_people = Batcher(self._detect_people, max_batch, "people")
        self.batches_run = 0
        self.images_run = 0
        self.regions, self.trained_stats = self._load_regions()
        self._centres = self.regions.centres(self.trained_stats.means) if self.regions else None

    def _load_regions(self) -> tuple[Regions, ClassStats] | tuple[None, None]:
        loaded = load_regions(self.model_dir, self.imagenet_layer()[0])
        if loaded is None:
            log.warning(
                "model %s has no open-set thresholds (%s): its classes claim photos by softmax >= %.2f, as before; "
                "python -m inference.class_stats --data <training photos> --model %s adds them",
                self.version,
                REGIONS_FILE,
                self.confidence,
                self.model_dir,
            )
            return None, None
        return loaded

    @property
    def open_set(self) -> bool:
        """Whether trained classes claim photos by their regions (False: an older model, by softmax)."""
        return self.regions is not None

    def imagenet_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """The ImageNet layer's weights (dim×1000) and bias, read from the model file.

        The pair is checked against the model's own ImageNet output on a probe image, so a file
        whose graph differs from what export writes is refused rather than misread.
        """
        probe = np.linspace(0, 255, MODEL_SIZE * MODEL_SIZE * 3).reshape(1, MODEL_SIZE, MODEL_SIZE, 3)
        _, expected, embedding = self.run(probe.astype(np.uint8))
        dim = embedding.shape[1]
        weights, biases = [], []
        for detail in self._interpreter.get_tensor_details():
            shape = tuple(detail["shape"])
            if shape not in ((1000, dim), (1000,)):
                continue
            try:
                value = dequantized(self._interpreter.get_tensor(detail["index"]), detail["quantization_parameters"])
            except ValueError:
                continue
            (weights if value.ndim == 2 else biases).append(value)
        biases.append(np.zeros(1000, np.float32))  # the converter drops a bias that is all zeros
        for matrix in weights:
            for bias in biases:
                logits = embedding @ matrix.T + bias
                probabilities = np.exp(logits - logits.max())
                if np.abs(probabilities / probabilities.sum() - expected).max() < PROBE_TOLERANCE:
                    return matrix.T, bias
        raise ValueError(f"{self.model_dir / MODEL_FILE}: no ImageNet layer weights that reproduce its output")

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw model outputs (custom, imagenet, embedding) for an N×224×224×3 uint8/float batch."""
        if images.ndim != 4 or images.shape[1:] != (MODEL_SIZE, MODEL_SIZE, 3):
            raise ValueError(f"expected N×{MODEL_SIZE}×{MODEL_SIZE}×3 images, got {images.shape}")
        with self._lock:
            out = self._runner(**{self._input_name: np.ascontiguousarray(images, dtype=np.float32)})
            self.batches_run += 1
            self.images_run += len(images)
        return out["output_0"], out["output_1"], out["output_2"]

    def predict(self, images: np.ndarray, wholes: list[np.ndarray | None] | None = None) -> list[Prediction]:
        """Predictions for a batch of decoded photos; `wholes` are their whole frames for the people model."""
        return self._combine(self._classify_batch(images), self._detect_people(wholes or [None] * len(images)))

    def _classify_batch(self, images: np.ndarray) -> list[tuple]:
        custom, imagenet, embedding = self.run(images)
        distances = self._region_distances(embedding, custom.argmax(axis=1))
        subjects = self.subject_tree.rollup(imagenet)
        # Every 4th pixel each way: 0.2 ms a photo instead of 2.4 for all of them, and as plain.
        spread = images[:, ::4, ::4].reshape(len(images), -1, 3).std(axis=1).max(axis=1)
        return list(zip(custom, imagenet, embedding, distances, subjects, spread < PLAIN_SPREAD, strict=True))

    def _detect_people(self, wholes: list[np.ndarray | None]) -> list[People | None]:
        return [self.people.detect(whole) if self.people and whole is not None else None for whole in wholes]

    def _combine(self, outputs: list[tuple], people: list[People | None]) -> list[Prediction]:
        return [self._prediction(*output, seen) for output, seen in zip(outputs, people, strict=True)]

    def _region_distances(self, embeddings: np.ndarray, best: np.ndarray) -> list[float | None]:
        """Each photo's distance from its best class, as a share of the radius (None: no regions)."""
        if self.regions is None:
            return [None] * len(embeddings)
        distances = self.regions.distances(self.regions.project(embeddings), self._centres)
        return [float(distances[i, k]) / self.regions.radius for i, k in enumerate(best)]

    def _top(self, probabilities: np.ndarray, names: list[str]) -> tuple[Label, ...]:
        order = np.argsort(-probabilities, kind="stable")[: self.top_k]
        return tuple(Label(names[k], float(probabilities[k]), int(k)) for k in order)

    def _prediction(
        self,
        custom: np.ndarray,
        imagenet: np.ndarray,
        embedding: np.ndarray,
        region: float | None,
        subjects: np.ndarray,
        plain: bool,
        people: People | None,
    ) -> Prediction:
        top_custom = self._top(custom, self.classes)
        sure = not plain and (top_custom[0].score >= self.confidence if region is None else region <= 1.0)
        order = np.argsort(-subjects, kind="stable")
        return Prediction(
            custom=top_custom,
            imagenet=self._top(imagenet, self.imagenet_classes),
            claimed=bool(sure),
            model_version=self.version,
            embedding=embedding.copy(),
            subjects=tuple(
                Label(self.subject_tree.keys[k], float(subjects[k]), -1) for k in order if subjects[k] >= SUBJECT_FLOOR
            ),
            people=people,
            region=region,
            plain=bool(plain),
        )

    async def classify(self, image: np.ndarray, whole: np.ndarray | None = None) -> Prediction:
        """Classify one decoded photo without blocking the event loop; `whole` also asks for people."""
        if self.people is None or whole is None:
            return self._prediction(*await self._classifying(image), None)
        output, people = await asyncio.gather(self._classifying(image), self._seeing_people(whole))
        return self._prediction(*output, people)

    async def aclose(self) -> None:
        """Stop the batching workers and release their threads."""
        await self._classifying.aclose()
        await self._seeing_people.aclose()
