"""What we know about hashtags' popularity and Instagram's mood, kept in SQLite.

Replies read from here only; the background refresher is the only writer of
Instagram facts. Every fact carries when it was fetched, so staleness is a
query, not a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.database import Database, now


@dataclass(frozen=True)
class Health:
    """Instagram's state as the admins see it."""

    last_success: float | None
    last_failure: float | None
    last_error: str | None
    failures: int
    pause_until: float | None

    @property
    def paused(self) -> bool:
        return self.pause_until is not None and self.pause_until > now()


async def _pairs_for(db: Database, select: str, keys: list[str]) -> dict:
    """Run `select ... IN ({marks})` for `keys`, as a dict of the first column to the second."""
    if not keys:
        return {}
    return {row[0]: row[1] for row in await db.execute_fetchall(select.format(marks=",".join("?" * len(keys))), keys)}


async def media_counts(db: Database, tags: list[str]) -> dict[str, int]:
    """Known post counts for `tags` (missing tags are simply absent)."""
    return await _pairs_for(
        db, "SELECT tag, media_count FROM hashtags WHERE media_count IS NOT NULL AND tag IN ({marks})", tags
    )


async def save_counts(db: Database, counts: dict[str, int], source: str = "instagram") -> None:
    stamp = now()
    await db.write(
        "INSERT INTO hashtags (tag, media_count, fetched_at, source) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (tag) DO UPDATE SET media_count = excluded.media_count, fetched_at = excluded.fetched_at,"
        " source = excluded.source, last_error = NULL, error_at = NULL",
        [(tag, count, stamp, source) for tag, count in counts.items()],
        many=True,
    )


async def save_count_error(db: Database, tag: str, error: str) -> None:
    await db.write(
        "INSERT INTO hashtags (tag, source, last_error, error_at) VALUES (?, 'instagram', ?, ?)"
        " ON CONFLICT (tag) DO UPDATE SET last_error = excluded.last_error, error_at = excluded.error_at",
        (tag, error, now()),
    )


async def stale_counts(db: Database, tags: list[str], ttl: float, error_ttl: float) -> list[str]:
    """The tags among `tags` whose count is missing or older than `ttl`, skipping recent failures."""
    if not tags:
        return []
    marks = ",".join("?" * len(tags))
    rows = await db.execute_fetchall(f"SELECT tag, fetched_at, error_at FROM hashtags WHERE tag IN ({marks})", tags)
    known = {row[0]: (row[1], row[2]) for row in rows}
    stamp = now()
    stale = []
    for tag in tags:
        fetched, failed = known.get(tag, (None, None))
        if failed is not None and stamp - failed < error_ttl:
            continue
        if fetched is None or stamp - fetched > ttl:
            stale.append(tag)
    return stale


async def expired_counts(db: Database, ttl: float, error_ttl: float, limit: int) -> list[str]:
    """Instagram counts older than `ttl`, oldest first, skipping tags that failed recently."""
    stamp = now()
    rows = await db.execute_fetchall(
        "SELECT tag FROM hashtags WHERE source = 'instagram' AND fetched_at IS NOT NULL AND fetched_at < ?"
        " AND (error_at IS NULL OR error_at < ?) ORDER BY fetched_at LIMIT ?",
        (stamp - ttl, stamp - error_ttl, limit),
    )
    return [row[0] for row in rows]


async def search_results(db: Database, queries: list[str]) -> dict[str, list[str]]:
    """Related tags Instagram's search gave for each query we have searched."""
    found = await _pairs_for(
        db, "SELECT query, tags FROM searches WHERE fetched_at IS NOT NULL AND query IN ({marks})", queries
    )
    return {query: json.loads(tags) for query, tags in found.items()}


async def save_search(db: Database, query: str, tags: list[str]) -> None:
    await db.write(
        "INSERT INTO searches (query, tags, fetched_at) VALUES (?, ?, ?) ON CONFLICT (query) DO UPDATE SET"
        " tags = excluded.tags, fetched_at = excluded.fetched_at, last_error = NULL, error_at = NULL",
        (query, json.dumps(tags), now()),
    )


async def recent_searches(db: Database, limit: int = 10) -> list[tuple[str, float, int]]:
    """The refresher's last successful searches: (query, when, how many related tags), newest first."""
    rows = await db.execute_fetchall(
        "SELECT query, fetched_at, tags FROM searches WHERE fetched_at IS NOT NULL ORDER BY fetched_at DESC LIMIT ?",
        (limit,),
    )
    return [(row[0], row[1], len(json.loads(row[2]))) for row in rows]


async def save_search_error(db: Database, query: str, error: str) -> None:
    await db.write(
        "INSERT INTO searches (query, tags, last_error, error_at) VALUES (?, '[]', ?, ?)"
        " ON CONFLICT (query) DO UPDATE SET last_error = excluded.last_error, error_at = excluded.error_at",
        (query, error, now()),
    )


async def queue_queries(db: Database, queries: list[str]) -> None:
    """Remember labels seen for the first time, for the refresher to look up."""
    await db.write(
        "INSERT INTO pending_queries (query, queued_at) SELECT ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM searches WHERE query = ?) ON CONFLICT DO NOTHING",
        [(q, now(), q) for q in queries],
        many=True,
    )


async def due_queries(db: Database, ttl: float, error_ttl: float, limit: int) -> list[str]:
    """Queued labels first, then searches older than `ttl`; recent failures wait `error_ttl`."""
    stamp = now()
    rows = await db.execute_fetchall(
        "SELECT query FROM pending_queries WHERE query NOT IN"
        " (SELECT query FROM searches WHERE error_at IS NOT NULL AND error_at > ?)"
        " UNION ALL SELECT query FROM searches WHERE (fetched_at IS NULL OR fetched_at < ?)"
        " AND (error_at IS NULL OR error_at < ?) AND query NOT IN (SELECT query FROM pending_queries)"
        " LIMIT ?",
        (stamp - error_ttl, stamp - ttl, stamp - error_ttl, limit),
    )
    return [row[0] for row in rows]


async def unqueue(db: Database, query: str) -> None:
    await db.write("DELETE FROM pending_queries WHERE query = ?", (query,))


async def health(db: Database) -> Health:
    (row,) = await db.execute_fetchall(
        "SELECT last_success, last_failure, last_error, failures, pause_until FROM instagram_health WHERE id = 1"
    )
    return Health(*row)


async def record_success(db: Database) -> None:
    await db.write(
        "UPDATE instagram_health SET last_success = ?, failures = 0, pause_until = NULL WHERE id = 1", (now(),)
    )


async def record_failure(db: Database, error: str, pause_seconds: float) -> Health:
    stamp = now()
    await db.write(
        "UPDATE instagram_health SET last_failure = ?, last_error = ?, failures = failures + 1,"
        " pause_until = ? WHERE id = 1",
        (stamp, error, stamp + pause_seconds),
    )
    return await health(db)
