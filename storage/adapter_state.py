"""Whether each chat adapter is receiving, as each running bot process last said: for `--check` and the admins.

A process that stops receiving on one platform (a rejected token, a gateway
that will not take it back) says so here and in its log; `--check`, run beside
it (Docker's health check), reads it. A state written by a process that is no
longer running is history, not health: it is shown only while no running
process has that adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import processes
from storage.database import Database, now


@dataclass(frozen=True)
class AdapterState:
    name: str
    receiving: bool
    detail: str
    at: float
    process: str
    current: bool  # the process that wrote this is still running
    shared: bool = False  # more than one running process has this adapter: name the process


async def set_state(db: Database, process: str, name: str, receiving: bool, detail: str) -> None:
    await db.write(
        "INSERT INTO adapters (process, name, receiving, detail, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (process, name) DO UPDATE"
        " SET receiving = excluded.receiving, detail = excluded.detail, at = excluded.at",
        (process, name, int(receiving), detail, now()),
    )


async def states(db: Database) -> list[AdapterState]:
    """Each running process's adapters; for an adapter no running process has, the last state written."""
    alive = await processes.alive(db)
    rows = await db.execute_fetchall("SELECT name, receiving, detail, at, process FROM adapters ORDER BY name, at")
    found: list[AdapterState] = []
    for name in dict.fromkeys(row[0] for row in rows):
        mine = [row for row in rows if row[0] == name]
        running = [row for row in mine if row[4] in alive]
        for row in running or mine[-1:]:
            found.append(AdapterState(name, bool(row[1]), row[2], row[3], row[4], bool(running), len(running) > 1))
    return found
