"""Chat updates as they arrive, until they are answered: what makes receipt durable.

An update is written here, with the process that took it, before the chat API
is told it was received, and marked answered once handled (its payload is then
cleared: it holds the user's message). When that process dies (a crash, or a
machine lost, `storage.processes`), a running one takes its unanswered updates
over and handles them; an update id already here is never handled a second time. Rows are kept two
days, longer than Telegram keeps an unconfirmed update, so a late redelivery
is still recognised.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.database import DAY, Database, now, rows_of_values

KEPT_DAYS = 2.0


async def receive(db: Database, bot: int, items: Sequence[tuple[int, str]], process: str) -> set[int]:
    """Record updates (id, payload) taken by `process`, in one statement; the ids that were new.

    The others were here already: redeliveries, maybe to another process. One statement serves a
    whole getUpdates batch (`bot.telegram.inbox.DurableBot` says why).
    """
    stamp = now()
    values, parameters = rows_of_values([(bot, update_id, stamp, payload, process) for update_id, payload in items])
    rows = await db.execute_fetchall(
        f"INSERT INTO inbox (bot, update_id, received_at, payload, process) VALUES {values}"
        " ON CONFLICT DO NOTHING RETURNING update_id",
        parameters,
    )
    return {update_id for (update_id,) in rows}


async def answer(db: Database, items: list[tuple[int, int]]) -> None:
    """Mark these (bot, update id) answered, one statement per bot."""
    stamp = now()
    for bot in sorted({bot for bot, _ in items}):
        ids = sorted({item for of, item in items if of == bot})
        marks = ",".join("?" * len(ids))
        await db.write(
            f"UPDATE inbox SET answered_at = ?, payload = NULL WHERE bot = ? AND update_id IN ({marks})",
            (stamp, bot, *ids),
        )


async def adopt(db: Database, bot: int, process: str, alive: set[str], max_age: float) -> list[str]:
    """Take over the unanswered updates of processes not in `alive`, received in the last `max_age` seconds;
    their payloads, oldest first. One statement: of two processes adopting at once, each update goes to one."""
    running = sorted(alive | {process})
    rows = await db.execute_fetchall(
        "UPDATE inbox SET process = ? WHERE bot = ? AND answered_at IS NULL AND payload IS NOT NULL"
        f" AND received_at >= ? AND (process IS NULL OR process NOT IN ({','.join('?' * len(running))}))"
        " RETURNING update_id, payload",
        (process, bot, now() - max_age, *running),
    )
    return [payload for _, payload in sorted(rows)]


async def expire(db: Database, bot: int, max_age: float) -> int:
    """Clear `bot`'s payloads older than `max_age` seconds, answered or not: what no process may use any more
    (a Discord interaction token after its 15 minutes). Rows cleared."""
    return await db.write(
        "UPDATE inbox SET payload = NULL WHERE bot = ? AND payload IS NOT NULL AND received_at < ?",
        (bot, now() - max_age),
    )


async def tidy(db: Database, max_age: float) -> int:
    """Clear payloads too old to replay, forget rows older than KEPT_DAYS; rows forgotten."""
    await db.write("UPDATE inbox SET payload = NULL WHERE payload IS NOT NULL AND received_at < ?", (now() - max_age,))
    return await db.write("DELETE FROM inbox WHERE received_at < ?", (now() - KEPT_DAYS * DAY,))
