"""Durable receipt for Telegram, in python-telegram-bot's own extension points.

Polling and the webhook both hand each update to `Application.update_queue`
with an awaited `put`: the updater asks for the next batch (which confirms
this one to Telegram) only after it, and the webhook answers Telegram's POST
only after it. So an update is in the database (`storage.inbox`) before
`DurableQueue.put` returns, which drops an update id seen before. Polling
records each getUpdates batch in one statement as it arrives (`DurableBot`,
the bot the application is built with); a webhook's update is recorded by
`put` itself. The update processor, python-telegram-bot's hook around each
handled update, marks it answered. `replay`, at start and every few seconds
after, queues what a process that died (this one before a restart, or
another sharing the database) left unanswered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram.ext import ExtBot, SimpleUpdateProcessor

from bot.chat_inbox import ChatInbox
from storage.database import Database

log = logging.getLogger(__name__)


class Inbox:
    """The database side, for one bot (update ids are per bot)."""

    def __init__(self, db: Database, max_age: float, process: str) -> None:
        self.chat = ChatInbox(db, process, max_age)
        self.bot_id = 0  # known once the bot has initialised (getMe)
        self._received: dict[int, bool] = {}  # recorded, not yet queued: whether each was new

    async def receive(self, updates: Sequence[Update]) -> None:
        """Record `updates` in one statement, before anything tells Telegram they arrived."""
        if not updates:
            return
        items = [(update.update_id, json.dumps(update.to_dict())) for update in updates]
        what = f"updates {updates[0].update_id}–{updates[-1].update_id}"
        new = await self.chat.record(self.bot_id, items, what)
        self._received.update((update.update_id, update.update_id in new) for update in updates)

    async def is_new(self, update: Update) -> bool:
        """Whether to handle `update`: recorded with its batch, or now on its own; False for a redelivery."""
        if update.update_id not in self._received:
            await self.receive([update])
        return self._received.pop(update.update_id)

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
        if isinstance(item, Update) and not await self.inbox.is_new(item):
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


class DurableBot(ExtBot):
    """The application's bot: each getUpdates batch is recorded in the inbox before the updater sees it.

    python-telegram-bot queues a batch's updates one `put` at a time; recorded one by one there, each
    insert waited for a turn of the busy event loop, and under load receipt, not answering, set the pace
    (about 90 updates a second; docs/benchmarks.md, issue 23). Telegram is told of the batch by the next
    getUpdates, which the updater sends only after it has queued this one.
    """

    __slots__ = ("inbox",)

    def __init__(self, inbox: Inbox, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self._unfrozen():  # a bot is frozen once made; ExtBot sets its own attributes the same way
            self.inbox = inbox

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
        await self.inbox.receive(updates)
        return updates


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
