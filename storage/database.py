"""Open the bot's SQLite file, safely shared by both chat adapters and the trend refresher.

One aiosqlite connection serves the whole process: aiosqlite runs every
statement on one thread in order, so concurrent writers queue instead of
fighting over locks. WAL lets backups and admin queries read while the bot
writes; the busy timeout covers other processes (a backup, the CLI).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import aiosqlite

from storage.migrations import MIGRATIONS

HOUR = 3600.0
DAY = 24 * HOUR


class SchemaTooNew(Exception):
    """The file was written by a newer version of the bot; we refuse to touch it."""


class DatabaseUnavailable(Exception):
    """The file cannot be opened or created: a directory without permission, a full disk, a path that is a folder."""


async def open_database(path: Path | str, busy_timeout_ms: int = 5000) -> aiosqlite.Connection:
    """Open (creating or upgrading) the database at `path`, readable by its owner only.

    SQLite gives the -wal and -shm files the database file's permissions, so
    creating the file 0600 first keeps all three private whatever the umask.
    """
    try:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            make_private(Path(path))
        db = await aiosqlite.connect(str(path), isolation_level=None)
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnavailable(f"cannot open DATABASE_PATH {path}: {error}") from None
    db.row_factory = aiosqlite.Row
    try:
        try:
            await write(db, f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await write(db, "PRAGMA journal_mode = WAL")
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open DATABASE_PATH {path}: {error}") from None
        await write(db, "PRAGMA synchronous = NORMAL")
        await write(db, "PRAGMA foreign_keys = ON")
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def make_private(path: Path) -> None:
    """Create `path` (and chmod it, with its -wal and -shm) as owner-only: the log holds user ids."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)


async def schema_version(db: aiosqlite.Connection) -> int:
    (row,) = await db.execute_fetchall("PRAGMA user_version")
    return int(row[0])


async def migrate(db: aiosqlite.Connection) -> int:
    """Apply the numbered migrations the file has not seen yet, each in its own transaction."""
    current = await schema_version(db)
    if current > len(MIGRATIONS):
        raise SchemaTooNew(
            f"The database schema is version {current}, but this bot knows versions up to {len(MIGRATIONS)}. "
            "It was written by a newer release: upgrade the bot or point DATABASE_PATH at another file."
        )
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        await write(db, "BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, script.split(";")):
                await write(db, statement)
            await write(db, f"PRAGMA user_version = {version}")
            await write(db, "COMMIT")
        except BaseException:
            await write(db, "ROLLBACK")
            raise
    return len(MIGRATIONS)


async def write(db: aiosqlite.Connection, sql: str, parameters: Iterable = (), *, many: bool = False) -> int:
    """Run a statement that returns no rows, closing its cursor on the database thread; rows changed.

    A cursor left to be freed on the event loop's thread resets its cached
    statement there while the database thread may be running it: under load
    sqlite3 then raises "bad parameter or other API misuse" (python/cpython#118172).
    Reads use `execute_fetchall`, which frees its cursor on the database thread too.
    """
    async with (db.executemany if many else db.execute)(sql, parameters) as cursor:
        return cursor.rowcount


def now() -> float:
    """Unix time; one place so every table stores time the same way."""
    return time.time()
