"""SQLite through aiosqlite: the default, one file shared by the adapters and the trend refresher of one process.

One aiosqlite connection serves the whole process: aiosqlite runs every
statement on one thread in order, so concurrent writers queue instead of
fighting over locks. WAL lets backups and admin queries read while the bot
writes; the busy timeout covers other processes (a backup, the CLI).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import DatabaseError, DatabaseUnavailable

DRIVER_ERRORS = (aiosqlite.Error, sqlite3.Error)
WAL_RETRY_SECONDS = 0.02


class SqliteDatabase:
    def __init__(self, connection: aiosqlite.Connection, path: Path | str) -> None:
        self.connection, self.path = connection, path
        self.where = str(path)

    @classmethod
    async def open(cls, path: Path | str, busy_timeout_ms: int = 5000) -> SqliteDatabase:
        """Open the file, readable by its owner only (SQLite gives the -wal and -shm files its permissions)."""
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                make_private(Path(path))
            connection = await aiosqlite.connect(str(path), isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise DatabaseUnavailable(f"cannot open DATABASE_PATH {path}: {error}") from None
        db = cls(connection, path)
        try:
            try:
                await db.write(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                await db._use_wal(busy_timeout_ms / 1000)
            except DatabaseError as error:
                raise DatabaseUnavailable(f"cannot open DATABASE_PATH {path}: {error}") from None
            await db.write("PRAGMA synchronous = NORMAL")
            await db.write("PRAGMA foreign_keys = ON")
        except BaseException:
            await connection.close()
            raise
        return db

    async def _use_wal(self, patience: float) -> None:
        """Switch the file to WAL, waiting up to `patience` seconds for another process's write to end.

        SQLite does not call the busy handler for this switch: it fails at once while another
        connection writes. Processes opening a new file together meet exactly that: the first one
        migrates while the file is not yet WAL on disk (seen as 'database is locked' at start).
        """
        deadline = time.monotonic() + patience
        while True:
            try:
                await self.write("PRAGMA journal_mode = WAL")
                return
            except DatabaseError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(WAL_RETRY_SECONDS)

    async def execute_fetchall(self, sql: str, parameters: Iterable = ()) -> Sequence[Sequence[Any]]:
        try:
            return list(await self.connection.execute_fetchall(sql, parameters))
        except DRIVER_ERRORS as error:
            raise DatabaseError(str(error)) from error

    async def write(self, sql: str, parameters: Iterable = (), *, many: bool = False) -> int:
        """The cursor is closed on the database thread.

        A cursor left to be freed on the event loop's thread resets its cached
        statement there while the database thread may be running it: under load
        sqlite3 then raises "bad parameter or other API misuse" (python/cpython#118172).
        `execute_fetchall` frees its cursor on the database thread too.
        """
        try:
            run = self.connection.executemany if many else self.connection.execute
            async with run(sql, parameters) as cursor:
                return cursor.rowcount
        except DRIVER_ERRORS as error:
            raise DatabaseError(str(error)) from error

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteDatabase]:
        """BEGIN IMMEDIATE takes the file's write lock, so one process at a time migrates it.

        The connection is the process's only one: use it where nothing else runs yet (opening, --check).
        """
        await self.write("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            await self.write("ROLLBACK")
            raise
        await self.write("COMMIT")

    @asynccontextmanager
    async def leadership(self, name: str) -> AsyncIterator[bool]:
        """A lock file next to the database, held with flock: the kernel frees it when the process dies."""
        if str(self.path) == ":memory:":
            yield True
            return
        lock = Path(self.path).with_name(f"{Path(self.path).name}.{name}.lock")
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)

    async def schema_version(self) -> int:
        (row,) = await self.execute_fetchall("PRAGMA user_version")
        return int(row[0])

    async def set_schema_version(self, version: int) -> None:
        await self.write(f"PRAGMA user_version = {int(version)}")

    async def close(self) -> None:
        await self.connection.close()


def make_private(path: Path) -> None:
    """Create `path` (and chmod it, with its -wal and -shm) as owner-only: the log holds user ids."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)
