"""Shared fixtures: fixture photos, a fresh database on each engine, the pipeline, the fakes of both platforms."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from telegram.ext import Application

from bot.config import Config
from bot.pipeline import Pipeline
from bot.telegram.application import build_application
from inference.model_folder import DEFAULT_MODEL_DIR
from tests.support import postgres
from tests.support.bot_process import kill_leftovers
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.support.fake_telegram import FakeTelegram
from tests.support.photos import FIXTURES
from tests.support.pipelines import serving


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


@pytest.fixture
def config() -> Config:
    return Config(admin_ids=frozenset({42}), flood_photos=5, flood_window=10.0, typing_delay=0.05)


@pytest.fixture
async def telegram_fake() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API, listening; stopped after the test."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord gateway and REST API, listening; stopped after the test."""
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram_app(
    request: pytest.FixtureRequest, telegram_fake: FakeTelegram, config: Config, pipeline: Pipeline
) -> AsyncIterator[Application]:
    """The real python-telegram-bot application against the fake, polling; `indirect` parametrisation overrides
    config fields."""
    config = dataclasses.replace(
        config,
        telegram_token=TELEGRAM_TOKEN,
        telegram_api_base_url=telegram_fake.base_url,
        telegram_file_base_url=telegram_fake.file_base_url,
        **getattr(request, "param", {}),
    )
    application = build_application(config, pipeline)
    await application.initialize()
    await application.post_init(application)
    await application.start()
    await application.updater.start_polling(poll_interval=0.0, timeout=1)
    yield application
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
