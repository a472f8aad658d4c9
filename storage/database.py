"""The bot's database: SQLite in one file by default, PostgreSQL when several processes share it.

Every table is read and written through the two calls of `Database`, in SQL
both engines accept (`?` placeholders, `ON CONFLICT`); each backend runs a
statement as its own transaction, as SQLite's autocommit does. Driver errors
come out as `storage.errors.DatabaseError`, so callers handle a full disk or a lost server
the same way on either engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from storage.errors import SchemaTooNew
from storage.migrations import MIGRATIONS

HOUR = 3600.0
DAY = 24 * HOUR


class Database(Protocol):
    """What the storage modules need of an engine."""

    where: str  # for people: the file, or the server and database (never a password)

    async def execute_fetchall(self, sql: str, parameters: Iterable = ()) -> Sequence[Sequence[Any]]:
        """The rows of a query."""

    async def write(self, sql: str, parameters: Iterable = (), *, many: bool = False) -> int:
        """Run a statement that returns no rows (with each parameter tuple when `many`); rows changed."""

    def transaction(self) -> AbstractAsyncContextManager[Database]:
        """Statements on the yielded handle commit together, and migrations are taken one process at a time."""

    def leadership(self, name: str) -> AbstractAsyncContextManager[bool]:
        """True while this process is the one doing `name` (the Instagram refresher) among all sharing the database.

        Held until the context exits or the process dies; False when another process holds it.
        """

    async def schema_version(self) -> int: ...

    async def set_schema_version(self, version: int) -> None: ...

    async def close(self) -> None: ...


async def open_database(target: Path | str, busy_timeout_ms: int = 5000) -> Database:
    """Open (creating or upgrading) the database at `target`: a `postgresql://` URL, else an SQLite path."""
    db = await connect(target, busy_timeout_ms)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


async def connect(target: Path | str, busy_timeout_ms: int = 5000) -> Database:
    """The engine `target` names, its schema as found (`open_database` upgrades it)."""
    if str(target).startswith(("postgresql://", "postgres://")):
        from storage.postgres_database import PostgresDatabase

        return await PostgresDatabase.open(str(target))
    from storage.sqlite_database import SqliteDatabase

    return await SqliteDatabase.open(target, busy_timeout_ms)


async def migrate(db: Database) -> int:
    """Apply the numbered migrations the database has not seen yet, each in its own transaction.

    The version is read inside the transaction, which both engines give one process at a
    time, so processes starting together upgrade a shared database once.
    """
    while True:
        async with db.transaction() as tx:
            current = await tx.schema_version()
            if current > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"The database schema is version {current}, but this bot knows versions up to "
                    f"{len(MIGRATIONS)}. It was written by a newer release: upgrade the bot or point "
                    "DATABASE_PATH (or DATABASE_URL) at another database."
                )
            if current == len(MIGRATIONS):
                return current
            for statement in statements(MIGRATIONS[current]):
                await tx.write(statement)
            await tx.set_schema_version(current + 1)


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def rows_of_values(rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`(?, …), (?, …)` for rows inserted in one statement (all of them or none), and their values in order."""
    marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([marks] * len(rows)), [value for row in rows for value in row]


def now() -> float:
    """Unix time; one place so every table stores time the same way."""
    return time.time()
