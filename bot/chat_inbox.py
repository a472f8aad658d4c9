"""What both chat platforms' durable receipt shares: one bot's rows of `storage.inbox`, kept tolerant.

Telegram's updates (`bot.telegram.inbox`) and Discord's deferred commands
(`bot.discord.inbox`) are recorded before they are handled and marked answered
after; a process taking over answers what a dead one left. A database error
loses durability for that one item only: it is still answered, and logged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from storage import inbox, processes
from storage.coalesce import Coalescer
from storage.database import Database
from storage.errors import DatabaseError

log = logging.getLogger(__name__)
# How often each platform looks for what dead processes left: once a lease can have run out.
ADOPT_SECONDS = processes.BEAT_SECONDS


class ChatInbox:
    """The inbox of this process for one platform, whose items are kept for `max_age` seconds."""

    def __init__(self, db: Database, process: str, max_age: float) -> None:
        self.db, self.process, self.max_age = db, process, max_age
        self._answered = Coalescer(functools.partial(inbox.answer, db))

    async def record(self, bot: int, items: Sequence[tuple[int, str]], what: str) -> set[int]:
        """Record items (id, payload) in one statement; the ids not recorded before (the rest are redeliveries)."""
        try:
            return await inbox.receive(self.db, bot, items, self.process)
        except DatabaseError as error:
            log.warning("could not record %s (%s): answering it anyway", what, error)
            return {item for item, _ in items}

    async def answered(self, bot: int, item: int, what: str) -> None:
        try:
            await self._answered.add((bot, item))
        except DatabaseError as error:
            log.warning("could not mark %s answered (%s)", what, error)

    async def adopt(self, bot: int) -> list[str]:
        """The payloads processes no longer running left unanswered, young enough to answer, oldest first."""
        return await inbox.adopt(self.db, bot, self.process, await processes.alive(self.db), self.max_age)
