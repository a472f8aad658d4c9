"""Whether each chat adapter is receiving, as the running bot last said: for `--check` and the admins.

A process that stops receiving on one platform (a rejected token, a gateway
that will not take it back) says so here and in its log; `--check`, run beside
it (Docker's health check), reads it. A state written by a process that is no
longer running is history, not health.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from storage.database import Database, now


@dataclass(frozen=True)
class AdapterState:
    name: str
    receiving: bool
    detail: str
    pid: int
    at: float

    @property
    def current(self) -> bool:
        """Whether the process that wrote this is still running."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


async def set_state(db: Database, name: str, receiving: bool, detail: str) -> None:
    await db.write(
        "INSERT INTO adapters (name, receiving, detail, pid, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE"
        " SET receiving = excluded.receiving, detail = excluded.detail, pid = excluded.pid, at = excluded.at",
        (name, int(receiving), detail, os.getpid(), now()),
    )


async def states(db: Database) -> list[AdapterState]:
    rows = await db.execute_fetchall("SELECT name, receiving, detail, pid, at FROM adapters ORDER BY name")
    return [AdapterState(row[0], bool(row[1]), row[2], row[3], row[4]) for row in rows]
