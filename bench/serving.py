"""Serving benchmark: LiteRT classifier vs Keras `predict` on the same model, in one run.

    .venv/bin/python -m bench.serving [--model models/flowers] [--photos DIR] [--runs 50]

Measures per-image latency (median, p95) and images/s at batch 1, batched,
and as the bot uses it (16 concurrent callers of `Classifier.classify`),
the decode step for a 12-MP and a Telegram-size JPEG (plain Pillow vs our
loader), and for each runtime a fresh process's start-up time to its first
prediction and peak RSS. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from inference.classifier import Classifier
from inference.decode import MODEL_SIZE, decode_image
from inference.model_folder import DEFAULT_MODEL_DIR, KERAS_FILE

FLOWERS_DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "flowers" / "dev"

STARTUP = {
    "litert": (
        "from inference.classifier import Classifier; import numpy as np, sys;"
        "c = Classifier(__import__('pathlib').Path(sys.argv[1])); c.run(np.zeros((1, 224, 224, 3), np.uint8));"
        "print('tensorflow' in sys.modules)"
    ),
    "keras": (
        "import keras, numpy as np, sys, pathlib; import inference.model;"
        "m = keras.saving.load_model(pathlib.Path(sys.argv[1]) / 'model.keras');"
        "m.predict(np.zeros((1, 224, 224, 3), np.float32), verbose=0); print('tensorflow' in sys.modules)"
    ),
}


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def summary(samples: list[float], per: int = 1) -> dict[str, float]:
    ms = sorted(s * 1000 / per for s in samples)
    return {
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "images_per_s": 1000 / statistics.median(ms),
    }


def concurrent_callers(classifier: Classifier, images: np.ndarray, callers: int, per_caller: int) -> dict[str, float]:
    """What the bot's callers see: `callers` tasks each awaiting `classify` in turn (micro-batched)."""

    async def run() -> tuple[list[float], float, int]:
        latencies: list[float] = []

        async def caller(offset: int) -> None:
            for i in range(per_caller):
                start = time.perf_counter()
                await classifier.classify(images[(offset + i) % len(images)])
                latencies.append(time.perf_counter() - start)

        await classifier.classify(images[0])
        batches_before = classifier.batches_run
        start = time.perf_counter()
        await asyncio.gather(*(caller(k) for k in range(callers)))
        wall = time.perf_counter() - start
        await classifier.aclose()
        return latencies, wall, classifier.batches_run - batches_before

    latencies, wall, batches = asyncio.run(run())
    figures = summary(latencies)
    figures["images_per_s"] = len(latencies) / wall
    figures["mean_batch"] = len(latencies) / batches
    return figures


def sample_images(photos: Path | None, count: int) -> np.ndarray:
    files = sorted(photos.rglob("*.jpg"))[:count] if photos and photos.is_dir() else []
    if files:
        return np.stack([decode_image(p.read_bytes()) for p in files])
    return np.random.default_rng(0).integers(0, 256, (count, MODEL_SIZE, MODEL_SIZE, 3), dtype=np.uint8)


def startup(kind: str, model: Path) -> dict[str, float | bool]:
    """Wall time and peak RSS of a fresh process that loads the model and predicts once."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (TensorFlow-laden) parent across exec.
    script = (
        f"import sys; {STARTUP[kind]}; "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script, str(model)], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    imported_tf, rss_kb = out.stdout.split()[-2:]
    return {"startup_s": elapsed, "peak_rss_mb": int(rss_kb) / 1024, "imports_tensorflow": imported_tf == "True"}


def decode_figures(runs: int) -> dict[str, dict[str, float]]:
    """Plain Pillow (full decode, then resize) against our loader (draft mode) on two photo sizes."""
    rng = np.random.default_rng(1)
    results = {}
    for name, (w, h) in {"12MP 4032x3024": (4032, 3024), "Telegram 1280x960": (1280, 960)}.items():
        small = Image.fromarray(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8))
        photo = small.resize((w, h), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()

        def plain(data: bytes = data) -> np.ndarray:
            image = Image.open(io.BytesIO(data)).convert("RGB")
            return np.asarray(image.resize((MODEL_SIZE, MODEL_SIZE), Image.Resampling.BILINEAR))

        base = statistics.median(timed(plain, max(3, runs // 5)))
        ours = statistics.median(timed(lambda data=data: decode_image(data), max(3, runs // 5)))
        results[name] = {"pillow_ms": base * 1000, "loader_ms": ours * 1000, "speedup": base / ours}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--photos", type=Path, default=FLOWERS_DEV)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--skip-keras", action="store_true")
    args = parser.parse_args(argv)

    images = sample_images(args.photos, max(args.batch, 16))
    one, batch = images[:1], images[: args.batch]
    classifier = Classifier(args.model)
    results: dict[str, dict] = {
        "litert batch 1": summary(timed(lambda: classifier.run(one), args.runs)),
        f"litert batch {args.batch}": summary(timed(lambda: classifier.run(batch), args.runs // 4), args.batch),
    }
    results["litert classify, 16 concurrent callers"] = concurrent_callers(
        Classifier(args.model), images, callers=16, per_caller=max(args.runs // 4, 2)
    )
    if not args.skip_keras:
        import keras

        import inference.model  # noqa: F401 - registers the preprocessing layer

        model = keras.saving.load_model(args.model / KERAS_FILE)
        x1, xb = one.astype(np.float32), batch.astype(np.float32)
        results["keras predict batch 1"] = summary(timed(lambda: model.predict(x1, verbose=0), args.runs // 2))
        results[f"keras predict batch {args.batch}"] = summary(
            timed(lambda: model.predict(xb, verbose=0), args.runs // 8), args.batch
        )
        results["ratio litert/keras batch 1"] = {
            "speedup": results["keras predict batch 1"]["p50_ms"] / results["litert batch 1"]["p50_ms"]
        }
    results["decode"] = decode_figures(args.runs)
    results["startup"] = {kind: startup(kind, args.model) for kind in (["litert"] if args.skip_keras else STARTUP)}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
