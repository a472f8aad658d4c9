"""Shared fixtures: the shipped classifier, a fresh database, the pipeline, fixture photos."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.config import Config
from bot.pipeline import Pipeline
from inference.classifier import Classifier
from inference.model_folder import DEFAULT_MODEL_DIR, REGIONS_FILE
from storage.database import open_database
from tests import postgres
from tests.bot_process import kill_leftovers
from trends.catalogue import Catalogue

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def no_stray_bots() -> Iterator[None]:
    """A bot process a failed test started must not outlive it."""
    yield
    kill_leftovers()


@pytest.fixture(scope="session")
def flower_photos() -> dict[str, bytes]:
    """Fixture photo bytes by class name (file names start with the class)."""
    return {path.name.split("-")[0]: path.read_bytes() for path in sorted(FIXTURES.glob("*-*.jpg"))}


@pytest.fixture(scope="session")
def everyday_photos() -> dict[str, bytes]:
    """CC BY and CC BY-SA coco128 photos by what they show (tests/fixtures/README.md): none of the flowers."""
    names = {"portrait": "459", "cat": "599", "motorbikes": "073", "pizza": "450", "baseball": "544", "pier": "520"}
    return {what: (FIXTURES / f"coco_000000000{number}.jpg").read_bytes() for what, number in names.items()}


@pytest.fixture
def jpeg() -> bytes:
    """Some valid photo that is none of the flowers."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def tablecloth(seed: int) -> bytes:
    """A photo of a checked tablecloth: none of the flowers, and different every seed (colours, check size)."""
    rng = np.random.default_rng(seed)
    cell = int(rng.integers(16, 40))
    light, dark = rng.integers(150, 256, 3), rng.integers(0, 80, 3)
    rows, cols = np.mgrid[0:300, 0:400]
    checks = ((rows // cell) + (cols // cell)) % 2 == 0
    pixels = np.where(checks[..., None], light, dark) + rng.integers(0, 20, (300, 400, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@asynccontextmanager
async def serving(model_dir: Path, database: Path | str) -> AsyncIterator[Pipeline]:
    """A pipeline on this model and database, closed afterwards."""
    classifier = Classifier(model_dir)
    db = await open_database(database)
    shared = Pipeline(classifier, db, Catalogue())
    await shared.teaching.load()
    try:
        yield shared
    finally:
        await shared.drain()
        await classifier.aclose()
        await db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """A fresh database on each engine: an SQLite file, then a PostgreSQL schema (skipped without a server)."""
    if request.param == "sqlite":
        yield tmp_path / "bot.sqlite3"
    else:
        with postgres.fresh_schema() as url:
            yield url


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    async with serving(DEFAULT_MODEL_DIR, tmp_path / "bot.sqlite3") as shared:
        yield shared


def without_thresholds(folder: Path) -> Path:
    """The shipped model as exported before open-set thresholds existed: links to all its files but those."""
    folder.mkdir(parents=True)
    for path in DEFAULT_MODEL_DIR.iterdir():
        if path.name != REGIONS_FILE:
            (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture
def config() -> Config:
    return Config(admin_ids=frozenset({42}), flood_photos=5, flood_window=10.0, typing_delay=0.05)


def gate_classifier(pipeline: Pipeline) -> asyncio.Event:
    """Hold every classification until the returned event is set: a slow model, on demand."""
    release = asyncio.Event()
    original = pipeline.classifier.classify

    async def held(image, whole=None):
        await release.wait()
        return await original(image, whole)

    pipeline.classifier.classify = held
    return release
