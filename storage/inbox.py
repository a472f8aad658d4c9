"""Chat updates as they arrive, until they are answered: what makes receipt durable.

An update is written here before the chat API is told it was received, and
marked answered once handled (its payload is then cleared: it holds the
user's message). After a crash the unanswered ones are read back and handled;
an update id already here is never handled a second time. Rows are kept two
days, longer than Telegram keeps an unconfirmed update, so a late redelivery
is still recognised.
"""

from __future__ import annotations

from storage.database import DAY, Database, now

KEPT_DAYS = 2.0


async def receive(db: Database, bot: int, update_id: int, payload: str) -> bool:
    """Record an update; False when it was already here (a redelivery)."""
    inserted = await db.write(
        "INSERT INTO inbox (bot, update_id, received_at, payload) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (bot, update_id, now(), payload),
    )
    return inserted == 1


async def answer(db: Database, bot: int, update_id: int) -> None:
    await db.write(
        "UPDATE inbox SET answered_at = ?, payload = NULL WHERE bot = ? AND update_id = ?",
        (now(), bot, update_id),
    )


async def unanswered(db: Database, bot: int, max_age: float) -> list[str]:
    """Payloads of the updates received in the last `max_age` seconds and never answered, oldest first."""
    rows = await db.execute_fetchall(
        "SELECT payload FROM inbox WHERE bot = ? AND answered_at IS NULL AND payload IS NOT NULL"
        " AND received_at >= ? ORDER BY update_id",
        (bot, now() - max_age),
    )
    return [row[0] for row in rows]


async def tidy(db: Database, max_age: float) -> int:
    """Clear payloads too old to replay, forget rows older than KEPT_DAYS; rows forgotten."""
    await db.write("UPDATE inbox SET payload = NULL WHERE payload IS NOT NULL AND received_at < ?", (now() - max_age,))
    return await db.write("DELETE FROM inbox WHERE received_at < ?", (now() - KEPT_DAYS * DAY,))
