"""Classes taught in the chat: labels with their tags, and one row of embeddings per photo.

Every change bumps `taught_version`: the other processes sharing the database
poll it and refit (`bot.teaching.Teaching.sync`).

A scope says where a class applies: "global" (taught by the bot's admins) or
one Discord server. Embeddings are stored as float16 (30 KB per photo), tagged
with the backbone that made them, so a model with another backbone ignores
them instead of comparing unlike vectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from inference.values import TaughtClass
from storage.database import Database, now


@dataclass(frozen=True)
class TaughtLabel:
    """A label as /labels lists it."""

    scope: str
    name: str
    tags: tuple[str, ...]
    examples: int


async def save_label(db: Database, scope: str, name: str, tags: list[str], user: str) -> None:
    """Create the label, or replace its tags when new ones are given (an empty list keeps the old ones)."""
    await db.write(
        "INSERT INTO taught_labels (scope, name, tags, created_by, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (scope, name) DO UPDATE SET tags = excluded.tags WHERE excluded.tags != '[]'",
        (scope, name, json.dumps(tags), user, now()),
    )
    await _changed(db)


async def add_example(db: Database, scope: str, name: str, backbone: str, embeddings: np.ndarray, user: str) -> int:
    """Store one photo's views×dim embeddings; returns how many examples the label now has."""
    await db.write(
        "INSERT INTO taught_examples (scope, label, backbone, views, embedding, added_by, added_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (scope, name, backbone, len(embeddings), embeddings.astype(np.float16).tobytes(), user, now()),
    )
    await _changed(db)
    return await example_count(db, scope, name)


async def example_count(db: Database, scope: str, name: str) -> int:
    (row,) = await db.execute_fetchall(
        "SELECT count(*) FROM taught_examples WHERE scope = ? AND label = ?", (scope, name)
    )
    return row[0]


async def forget(db: Database, scope: str, name: str) -> bool:
    """Delete the label and its examples; False when there was no such label."""
    forgotten = await db.write("DELETE FROM taught_labels WHERE scope = ? AND name = ?", (scope, name)) > 0
    if forgotten:
        await _changed(db)
    return forgotten


async def labels(db: Database, scopes: list[str]) -> list[TaughtLabel]:
    if not scopes:  # `IN ()` is SQLite's, not PostgreSQL's
        return []
    marks = ",".join("?" * len(scopes))
    rows = await db.execute_fetchall(
        f"SELECT l.scope, l.name, l.tags, count(e.id) FROM taught_labels l LEFT JOIN taught_examples e"
        f" ON e.scope = l.scope AND e.label = l.name WHERE l.scope IN ({marks})"
        " GROUP BY l.scope, l.name ORDER BY l.name, l.scope",
        scopes,
    )
    return [TaughtLabel(row[0], row[1], tuple(json.loads(row[2])), row[3]) for row in rows]


async def all_labels(db: Database) -> list[TaughtLabel]:
    """Every taught label in every scope, for the admins' dashboard."""
    return await labels(db, await scopes(db))


async def taught_classes(db: Database, scope: str, backbone: str) -> list[TaughtClass]:
    """Every label of `scope` with its examples made by `backbone` (labels without examples left out)."""
    rows = await db.execute_fetchall(
        "SELECT l.name, l.tags, e.views, e.embedding FROM taught_labels l JOIN taught_examples e"
        " ON e.scope = l.scope AND e.label = l.name WHERE l.scope = ? AND e.backbone = ? ORDER BY l.name, e.id",
        (scope, backbone),
    )
    grouped: dict[str, tuple[tuple[str, ...], list[np.ndarray]]] = {}
    for name, tags, views, blob in rows:
        examples = grouped.setdefault(name, (tuple(json.loads(tags)), []))[1]
        examples.append(np.frombuffer(blob, dtype=np.float16).reshape(views, -1).astype(np.float32))
    return [TaughtClass(name, np.stack(examples), tags) for name, (tags, examples) in grouped.items()]


async def scopes(db: Database) -> list[str]:
    return [row[0] for row in await db.execute_fetchall("SELECT DISTINCT scope FROM taught_labels ORDER BY scope")]


async def version(db: Database) -> int:
    """Bumped by every change to any scope's labels: cheap to poll."""
    return int((await db.execute_fetchall("SELECT version FROM taught_version WHERE id = 1"))[0][0])


async def _changed(db: Database) -> None:
    await db.write("UPDATE taught_version SET version = version + 1 WHERE id = 1")
