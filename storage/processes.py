"""The bot processes sharing the database, each alive while it keeps its row fresh: a lease, on either engine.

What one process leaves unfinished when it dies (updates it took and never
answered) is taken over by another once its lease lapses; `--check` and the
admins see every process's adapters. A process on this machine whose pid is
gone is dead at once, so a restart after a crash does not wait for the lease.
"""

from __future__ import annotations

import os
import secrets
import socket

from storage.database import DAY, Database, now

BEAT_SECONDS = 10.0
STALE_SECONDS = 30.0  # three missed beats: the process is gone (or cut off from the database)
HOST = socket.gethostname()


def new_id() -> str:
    """host-pid-random: unique even when a pid is reused, readable in the admins' views."""
    return f"{HOST}-{os.getpid()}-{secrets.token_hex(3)}"


async def beat(db: Database, process: str) -> None:
    """Say this process is alive (registering it on the first beat)."""
    await db.write(
        "INSERT INTO processes (id, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        (process, HOST, os.getpid(), now(), now()),
    )


async def leave(db: Database, process: str) -> None:
    """A clean stop: the process is gone now, not when its lease lapses."""
    await db.write("UPDATE processes SET seen_at = 0 WHERE id = ?", (process,))


async def alive(db: Database) -> set[str]:
    """The processes holding a fresh lease, less those of this machine whose pid has gone."""
    rows = await db.execute_fetchall("SELECT id, host, pid FROM processes WHERE seen_at >= ?", (now() - STALE_SECONDS,))
    return {process for process, host, pid in rows if host != HOST or running(int(pid))}


async def tidy(db: Database) -> int:
    """Forget processes gone for a day, and the adapter states they left."""
    forgotten = await db.write("DELETE FROM processes WHERE seen_at < ?", (now() - DAY,))
    await db.write("DELETE FROM adapters WHERE process NOT IN (SELECT id FROM processes)")
    return forgotten


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
