"""A real database that counts the statements written through it: what coalescing saves is statements."""

from __future__ import annotations

from collections.abc import Iterable

from storage.database import Database


class CountingWrites:
    """Forwards everything to `db`; `writes` counts `write` calls."""

    def __init__(self, db: Database) -> None:
        self.db, self.writes = db, 0

    def __getattr__(self, name: str):
        return getattr(self.db, name)

    async def write(self, sql: str, parameters: Iterable = (), *, many: bool = False) -> int:
        self.writes += 1
        return await self.db.write(sql, parameters, many=many)
