"""Answers people can still ask more of (Telegram's buttons, the web page's tag count): in the database,
so a tap or a request that reaches another bot process finds its answer there.

Only what the answer named is kept (its scene: subjects, phrases, scores), never the photo; the tags
are composed again from it, with today's trend facts. Kept two days.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from inference.scene import Named, Scene
from storage.database import DAY, Database, now, rows_of_values

KEPT_DAYS = 2.0


@dataclass
class Shown:
    scene: Scene
    count: int  # tags per page
    model_version: str = ""
    offset: int = 0  # the first tag on the page shown now


async def keep(db: Database, answers: list[tuple[str, Shown]]) -> None:
    """Keep answers under their keys, in one statement."""
    stamp = now()
    marks, values = rows_of_values(
        [
            (key, json.dumps([asdict(n) for n in kept.scene.named]), kept.count, kept.model_version, kept.offset, stamp)
            for key, kept in answers
        ]
    )
    columns = "key, scene, count, model_version, shown_from, at"
    await db.write(f"INSERT INTO shown_answers ({columns}) VALUES {marks}", values)


async def find(db: Database, key: str) -> Shown | None:
    rows = await db.execute_fetchall(
        "SELECT scene, count, model_version, shown_from FROM shown_answers WHERE key = ?", (key,)
    )
    if not rows:
        return None
    scene, count, model_version, offset = rows[0]
    named = tuple(Named(**{**n, "tags": tuple(n["tags"])}) for n in json.loads(scene))
    return Shown(Scene(named), int(count), model_version, int(offset))


async def turn(db: Database, key: str, offset: int) -> None:
    """The page now starts at `offset` ('More tags')."""
    await db.write("UPDATE shown_answers SET shown_from = ? WHERE key = ?", (offset, key))


async def tidy(db: Database) -> int:
    return await db.write("DELETE FROM shown_answers WHERE at < ?", (now() - KEPT_DAYS * DAY,))
