"""Serve the exported model with LiteRT, shared by every chat adapter.

The bot process never imports TensorFlow: LiteRT starts in a fraction of the
time and memory. One interpreter runs on one dedicated thread (interpreters
are not thread-safe, and XNNPACK already uses every core we give it);
asyncio callers queue their photos and the worker takes everything waiting
as one batch. No request ever waits for a batch to fill: when the bot is
idle a photo runs alone at once, under load the queue forms batches itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from inference.decode import MODEL_SIZE

IMAGENET_LABELS = Path(__file__).with_name("imagenet_labels.txt")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "flowers"


@dataclass(frozen=True)
class Label:
    """A class name with the model's probability for it; `index` is the class's output position.

    A taught label (index -1) carries the hashtags it was taught with.
    """

    name: str
    score: float
    index: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prediction:
    """What the model saw in one photo.

    `confident` is False when the best custom class is below the threshold:
    the photo is probably none of the trained classes, and the ImageNet
    labels should lead.
    """

    custom: tuple[Label, ...]
    imagenet: tuple[Label, ...]
    confident: bool
    model_version: str
    embedding: np.ndarray = field(repr=False, compare=False)


def model_backbone(model_dir: Path) -> str:
    """Which backbone made the model's embeddings (stored examples are only comparable within one)."""
    return json.loads((model_dir / "labels.json").read_text()).get("backbone", "mobilenetv2")


def load_imagenet_labels(path: Path = IMAGENET_LABELS) -> list[str]:
    """Short ImageNet class names; line k+1 of the file is Keras class k ("tench, Tinca tinca" → "tench")."""
    lines = path.read_text().splitlines()
    return [line.split(",")[0].strip() for line in lines[1:1001]]


class Classifier:
    """LiteRT classifier: sync `predict` for scripts, async `classify` for the bot."""

    def __init__(
        self,
        model_dir: Path = DEFAULT_MODEL_DIR,
        threads: int | None = None,
        max_batch: int = 8,
        confidence: float = 0.5,
        top_k: int = 3,
    ) -> None:
        self.model_dir = model_dir
        meta = json.loads((model_dir / "labels.json").read_text())
        self.classes: list[str] = meta["classes"]
        self.version: str = meta["version"]
        self.backbone = model_backbone(model_dir)
        self.imagenet_classes = load_imagenet_labels()
        self.confidence = confidence
        self.top_k = top_k
        self.max_batch = max_batch
        self._interpreter = Interpreter(str(model_dir / "model.tflite"), num_threads=threads or os.cpu_count() or 1)
        self._runner = self._interpreter.get_signature_runner()
        self._input_name = next(iter(self._runner.get_input_details()))
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litert")
        self._queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[Prediction]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.batches_run = 0
        self.images_run = 0

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw model outputs (custom, imagenet, embedding) for an N×224×224×3 uint8/float batch."""
        if images.ndim != 4 or images.shape[1:] != (MODEL_SIZE, MODEL_SIZE, 3):
            raise ValueError(f"expected N×{MODEL_SIZE}×{MODEL_SIZE}×3 images, got {images.shape}")
        with self._lock:
            out = self._runner(**{self._input_name: np.ascontiguousarray(images, dtype=np.float32)})
            self.batches_run += 1
            self.images_run += len(images)
        return out["output_0"], out["output_1"], out["output_2"]

    def predict(self, images: np.ndarray) -> list[Prediction]:
        """Predictions for a batch of decoded photos."""
        custom, imagenet, embedding = self.run(images)
        return [self._prediction(c, i, e) for c, i, e in zip(custom, imagenet, embedding, strict=True)]

    def _top(self, probabilities: np.ndarray, names: list[str]) -> tuple[Label, ...]:
        order = np.argsort(-probabilities, kind="stable")[: self.top_k]
        return tuple(Label(names[k], float(probabilities[k]), int(k)) for k in order)

    def _prediction(self, custom: np.ndarray, imagenet: np.ndarray, embedding: np.ndarray) -> Prediction:
        top_custom = self._top(custom, self.classes)
        return Prediction(
            custom=top_custom,
            imagenet=self._top(imagenet, self.imagenet_classes),
            confident=top_custom[0].score >= self.confidence,
            model_version=self.version,
            embedding=embedding.copy(),
        )

    async def classify(self, image: np.ndarray) -> Prediction:
        """Classify one decoded photo without blocking the event loop."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._serve_batches(self._queue), name="classifier")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        await self._queue.put((image, future))
        return await future

    async def _serve_batches(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            images = np.stack([image for image, _ in batch])
            try:
                predictions = await loop.run_in_executor(self._executor, self.predict, images)
            except Exception as error:  # noqa: BLE001 - every waiting caller must hear about it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), prediction in zip(batch, predictions, strict=True):
                if not future.done():
                    future.set_result(prediction)

    async def aclose(self) -> None:
        """Stop the batching worker and release the inference thread."""
        if self._worker:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker, self._queue = None, None
        self._executor.shutdown(wait=True)
