"""Pipelines for the tests: on a chosen model and database, a model without thresholds, a slow model on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.pipeline import Pipeline
from inference.classifier import Classifier
from inference.model_folder import DEFAULT_MODEL_DIR, REGIONS_FILE
from storage.database import open_database
from trends.catalogue import Catalogue


@asynccontextmanager
async def serving(model_dir: Path, database: Path | str) -> AsyncIterator[Pipeline]:
    """A pipeline on this model and database, closed afterwards."""
    shared = Pipeline(Classifier(model_dir), await open_database(database), Catalogue())
    await shared.teaching.load()
    try:
        yield shared
    finally:
        await shared.close()


def without_thresholds(folder: Path) -> Path:
    """The shipped model as exported before open-set thresholds existed: links to all its files but those."""
    folder.mkdir(parents=True)
    for path in DEFAULT_MODEL_DIR.iterdir():
        if path.name != REGIONS_FILE:
            (folder / path.name).symlink_to(path)
    return folder


def gate_classifier(pipeline: Pipeline) -> asyncio.Event:
    """Hold every classification until the returned event is set: a slow model, on demand."""
    release = asyncio.Event()
    original = pipeline.classifier.classify

    async def held(image, whole=None):
        await release.wait()
        return await original(image, whole)

    pipeline.classifier.classify = held
    return release


async def outcomes(pipeline: Pipeline, count: int) -> list[tuple[str, str | None]]:
    """The request log's (outcome, error) rows, once `count` requests have been written."""
    await asyncio.wait_for(pipeline.wait_recorded(count), 10)
    return [tuple(row) for row in await pipeline.db.execute_fetchall("SELECT outcome, error FROM requests ORDER BY id")]
