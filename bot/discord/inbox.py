"""Discord commands in flight, kept until answered, so a crash loses none: Telegram's inbox, for Discord.

A deferred `/hashtags` can be answered for 15 minutes through its interaction's
webhook, which needs nothing but the interaction token: not the gateway, not the
process that deferred it. So once a command is deferred, what it needs to
finish (the token, the attachments, the options) is written to the inbox
(`storage.inbox`, in the database that only the bot's user may read) with the
process that took it, and the payload is cleared once the answer is sent. A
process taking over (the same one restarted after `kill -9`, or another sharing
the database) answers what a dead process left, while the token still works.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bot.chat_inbox import ChatInbox
from storage import inbox
from storage.database import Database

# Discord accepts followups for 15 minutes after the command; one is left to fetch, answer and send.
TOKEN_LIFETIME = 14 * 60.0


@dataclass(frozen=True)
class PendingCommand:
    """A deferred `/hashtags` (or "Get hashtags"), as much as answering it needs."""

    interaction_id: int
    application_id: int
    token: str
    attachments: list[dict]  # Discord's attachment payloads: id, filename, size, url, content_type
    count: int | None
    private: bool
    scope: str
    user: str
    taught_scope: str
    notes: list[str]  # what the answer must add: images skipped, and why

    @property
    def filenames(self) -> list[str]:
        return [attachment["filename"] for attachment in self.attachments]


class DiscordInbox:
    """The database side for one process."""

    def __init__(self, db: Database, process: str) -> None:
        self.db, self.chat = db, ChatInbox(db, process, TOKEN_LIFETIME)

    async def record(self, command: PendingCommand) -> None:
        payload = json.dumps(asdict(command))
        await self.chat.record(command.application_id, [(command.interaction_id, payload)], self._name(command))

    async def answered(self, command: PendingCommand) -> None:
        await self.chat.answered(command.application_id, command.interaction_id, self._name(command))

    async def unanswered(self, application_id: int) -> list[PendingCommand]:
        """Commands that processes no longer running deferred and never answered, whose token still works;
        tokens past their lifetime are cleared from the database on the way."""
        await inbox.expire(self.db, application_id, TOKEN_LIFETIME + 60)
        return [PendingCommand(**json.loads(payload)) for payload in await self.chat.adopt(application_id)]

    @staticmethod
    def _name(command: PendingCommand) -> str:
        return f"Discord command {command.interaction_id}"
