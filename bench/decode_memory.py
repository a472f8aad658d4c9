"""Memory under huge images: twenty 7000×7000 PNGs (6 KB each, or 16-bit ones) at once, then ordinary photos.

    .venv/bin/python -m bench.decode_memory [--budgets 0 200] [--big 20] [--kinds rgb 16bit]

Each budget (MB of decodes in flight, `DECODE_MEMORY_MB`; 0 = unbounded) and kind of PNG runs in a
fresh process on the shipped model and an empty database: the pipeline answers the big PNGs all at
once while 20 small photos arrive beside them, then 20 more small photos. Reports the process's peak
RSS (VmHWM), its RSS afterwards, and the small photos' median latency while the big ones were in
flight. Prints JSON; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


async def run(budget_mb: int, big: int, kind: str) -> dict:
    from bot.pipeline import Pipeline
    from inference.classifier import Classifier
    from inference.model_folder import DEFAULT_MODEL_DIR
    from storage.database import open_database
    from trends.catalogue import Catalogue

    buffer = io.BytesIO()
    Image.new("I;16" if kind == "16bit" else "RGB", (7000, 7000), 20000 if kind == "16bit" else (200, 30, 30)).save(
        buffer, "PNG"
    )
    huge = buffer.getvalue()
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((1280, 960)).save(buffer, "JPEG")
    small = buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.sqlite3")
        pipeline = Pipeline(Classifier(DEFAULT_MODEL_DIR), db, Catalogue(), decode_bytes=budget_mb * 1_000_000)
        await pipeline.answer(small, "bench", "0", "0")
        before = rss_mb("VmRSS")

        async def timed(data: bytes) -> float:
            start = time.perf_counter()
            await pipeline.answer(data, "bench", "1", "1")
            return (time.perf_counter() - start) * 1000

        started = time.perf_counter()
        results = await asyncio.gather(*[timed(huge) for _ in range(big)], *[timed(small) for _ in range(20)])
        burst_s = time.perf_counter() - started
        after_small = [await timed(small) for _ in range(20)]
        report = {
            "budget_mb": budget_mb or "unbounded",
            "big_png": kind,
            "rss_before_mb": round(before),
            "peak_rss_mb": round(rss_mb("VmHWM")),
            "rss_after_mb": round(rss_mb("VmRSS")),
            "burst_s": round(burst_s, 1),
            "small_during_burst_p50_ms": round(statistics.median(results[big:]), 1),
            "small_after_p50_ms": round(statistics.median(after_small), 1),
        }
        await pipeline.drain()
        await pipeline.classifier.aclose()
        await db.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", choices=["rgb", "16bit"], default=["rgb", "16bit"])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(asyncio.run(run(int(args.one[0]), args.big, args.one[1]))))
        return
    reports = []
    for kind in args.kinds:
        for budget in args.budgets:  # a fresh process each: peak RSS is per process
            command = [sys.executable, "-m", "bench.decode_memory", "--one", str(budget), kind, "--big", str(args.big)]
            reports.append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))
    print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
