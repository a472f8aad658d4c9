"""Copy the bot's SQLite database into an empty PostgreSQL one: the move from one process to several.

    systemctl stop hashtag-bot
    .venv/bin/python -m deploy.copy_to_postgres --from data/bot.sqlite3 --to "$DATABASE_URL"
    # then set DATABASE_URL in .env and start the bot (or several)

Both are brought to this release's schema first, then every table is copied
in batches, one transaction each, in the order their references need. The
target must hold no bot data yet; rows that only say which processes ran (their
leases, their adapters) are not copied. Stop the bot first, so nothing is
written to the file meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from storage.database import Database, open_database
from storage.errors import DatabaseError, DatabaseUnavailable, SchemaTooNew

BATCH = 2000
# Every table with data, parents before children; `processes` and `adapters` describe processes, not data.
TABLES = [
    "requests",
    "hashtags",
    "searches",
    "pending_queries",
    "chat_settings",
    "blocklist",
    "instagram_health",
    "taught_labels",
    "taught_examples",
    "taught_version",
    "log_gaps",
    "inbox",
    "lessons",
]
SEEDED = {"instagram_health", "taught_version"}  # one row every new database starts with: replaced, not added to
IDENTITY = ["requests", "taught_examples", "log_gaps"]  # SQLite's row ids: PostgreSQL's counters go on after them


class NotEmpty(Exception):
    """The target already has the bot's data; copying would mix two histories."""


async def copy(source: Database, target: Database) -> dict[str, int]:
    """Every table of `source` into `target`; rows copied per table."""
    for table in TABLES:
        if table not in SEEDED and (await target.execute_fetchall(f"SELECT count(*) FROM {table}"))[0][0]:
            raise NotEmpty(f"{table} in the target already has rows: copy into a new, empty database")
    copied = {}
    for table in TABLES:
        columns = [row[1] for row in await source.execute_fetchall(f"PRAGMA table_info({table})")]
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if table in SEEDED:
            await target.write(f"DELETE FROM {table}")
        last, copied[table] = 0, 0
        while True:
            rows = await source.execute_fetchall(
                f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, BATCH),
            )
            if not rows:
                break
            async with target.transaction() as tx:
                await tx.write(insert, [row[1:] for row in rows], many=True)
            last, copied[table] = rows[-1][0], copied[table] + len(rows)
    for table in IDENTITY:
        await target.execute_fetchall(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        )
    return copied


async def run(source_path: Path, url: str) -> dict[str, int]:
    source = await open_database(source_path)
    try:
        target = await open_database(url)
        try:
            return await copy(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.copy_to_postgres", description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="the SQLite file (DATABASE_PATH)")
    parser.add_argument("--to", dest="url", required=True, help="postgresql://user:password@host/database")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"no database at {args.source}", file=sys.stderr)
        return 2
    if not args.url.startswith(("postgresql://", "postgres://")):
        print("--to must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        copied = asyncio.run(run(args.source, args.url))
    except (NotEmpty, DatabaseError, DatabaseUnavailable, SchemaTooNew) as error:
        print(f"copy failed: {error}", file=sys.stderr)
        return 1
    for table, rows in copied.items():
        print(f"{table}: {rows} row(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
