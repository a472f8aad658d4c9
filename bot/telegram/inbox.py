"""Durable receipt for Telegram, in python-telegram-bot's own extension points.

Polling and the webhook both hand each update to `Application.update_queue`
with an awaited `put`: the updater asks for the next batch (which confirms
this one to Telegram) only after it, and the webhook answers Telegram's POST
only after it. So `DurableQueue.put` records the update in the database
first (`storage.inbox`), and drops an update id it has already seen. The
update processor, python-telegram-bot's hook around each handled update,
marks it answered. `replay`, at start and every few seconds after, queues what
a process that died (this one before a restart, or another sharing the
database) left unanswered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import SimpleUpdateProcessor

from bot.chat_inbox import ChatInbox
from storage.database import Database

log = logging.getLogger(__name__)


class Inbox:
    """The database side, for one bot (update ids are per bot)."""

    def __init__(self, db: Database, max_age: float, process: str) -> None:
        self.chat = ChatInbox(db, process, max_age)
        self.bot_id = 0  # known once the bot has initialised (getMe)

    async def receive(self, update: Update) -> bool:
        """Record `update`; False for a redelivery of one already received."""
        payload = json.dumps(update.to_dict())
        return await self.chat.record(self.bot_id, update.update_id, payload, f"update {update.update_id}")

    async def answered(self, update: Update) -> None:
        await self.chat.answered(self.bot_id, update.update_id, f"update {update.update_id}")

    async def unanswered(self, bot: Bot) -> list[Update]:
        """Updates that processes no longer running left unanswered, young enough to be worth answering;
        button presses are not (Telegram lets them expire within seconds)."""
        updates = [Update.de_json(json.loads(payload), bot) for payload in await self.chat.adopt(self.bot_id)]
        return [update for update in updates if update.message]


class DurableQueue(asyncio.Queue):
    """The application's update queue: an update is in the database before `put` returns."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    async def put(self, item: Any) -> None:
        if isinstance(item, Update) and not await self.inbox.receive(item):
            log.info("update %d was received before: not handled again", item.update_id)
            return
        await super().put(item)

    async def replay(self, bot: Bot) -> int:
        """Queue the updates a stopped process left unanswered (already recorded); how many."""
        updates = await self.inbox.unanswered(bot)
        for update in updates:
            await super().put(update)
        if updates:
            log.warning(
                "answering %d update(s) received by a process that stopped (before a restart, or another"
                " sharing the database) but never answered",
                len(updates),
            )
        return len(updates)


class AnsweringProcessor(SimpleUpdateProcessor):
    """python-telegram-bot's bounded update processor, marking each update answered once handled
    and its request row written (`logged`), so a crash in between answers again rather than loses the row."""

    def __init__(self, inbox: Inbox, max_concurrent_updates: int, logged: Callable[[], Awaitable[None]]) -> None:
        super().__init__(max_concurrent_updates)
        self.inbox, self.logged = inbox, logged

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        if isinstance(update, Update):
            await self.logged()
            await self.inbox.answered(update)
