"""Lessons in progress (/learn … /done): in the database, so any bot process sharing it can take the next photo."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database, now


@dataclass(frozen=True)
class Lesson:
    """An admin teaching a label in a chat: their next photos there are examples, not questions."""

    label: str
    user_id: str
    rejected: int = 0


async def start(db: Database, platform: str, chat_id: str, label: str, user_id: str) -> None:
    """Begin (or restart) the chat's lesson; a chat has one at a time."""
    await db.write(
        "INSERT INTO lessons (platform, chat_id, label, user_id, last, rejected) VALUES (?, ?, ?, ?, ?, 0)"
        " ON CONFLICT (platform, chat_id) DO UPDATE SET label = excluded.label, user_id = excluded.user_id,"
        " last = excluded.last, rejected = 0",
        (platform, chat_id, label, user_id, now()),
    )


async def current(db: Database, platform: str, chat_id: str, idle: float) -> Lesson | None:
    """The chat's lesson, unless it has been idle longer than `idle` seconds (then it is ended)."""
    await db.write("DELETE FROM lessons WHERE last < ?", (now() - idle,))
    rows = await db.execute_fetchall(
        "SELECT label, user_id, rejected FROM lessons WHERE platform = ? AND chat_id = ?", (platform, chat_id)
    )
    return Lesson(rows[0][0], rows[0][1], int(rows[0][2])) if rows else None


async def touch(db: Database, platform: str, chat_id: str, rejected: bool = False) -> None:
    """The admin sent a photo: the lesson stays open (and counts a file that could not be used)."""
    await db.write(
        "UPDATE lessons SET last = ?, rejected = rejected + ? WHERE platform = ? AND chat_id = ?",
        (now(), int(rejected), platform, chat_id),
    )


async def end(db: Database, platform: str, chat_id: str) -> Lesson | None:
    """/done: the lesson as it ended, or None when there was none (another process may have ended it)."""
    rows = await db.execute_fetchall(
        "DELETE FROM lessons WHERE platform = ? AND chat_id = ? RETURNING label, user_id, rejected",
        (platform, chat_id),
    )
    return Lesson(rows[0][0], rows[0][1], int(rows[0][2])) if rows else None


async def end_label(db: Database, label: str) -> None:
    """/forget: lessons of a label that no longer exists end with it."""
    await db.write("DELETE FROM lessons WHERE label = ?", (label,))
