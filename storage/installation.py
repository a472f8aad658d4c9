"""Secrets this installation makes for itself once, kept in its database (mode 0600, or PostgreSQL's own).

The web side keys its client ids with one (`bot.web.security.ClientIds`): made at
the first start, shared by every process on the database, never in a log or `.env`.
"""

from __future__ import annotations

import secrets

from storage.database import Database


async def secret(db: Database, name: str) -> bytes:
    """The installation's secret called `name`, made now if this is the first time it is asked for."""
    await db.write(
        "INSERT INTO installation_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (name, secrets.token_hex(32)),
    )
    rows = await db.execute_fetchall("SELECT value FROM installation_secrets WHERE name = ?", (name,))
    return bytes.fromhex(rows[0][0])
