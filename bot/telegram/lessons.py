"""Teaching a label in a Telegram chat: /learn starts a lesson, the admin's next photos are its examples, /done ends it.

Not a `ConversationHandler`: that handler needs updates processed one at a
time (python-telegram-bot: "concurrent_updates should be False"), and this
bot answers everyone else's photos concurrently while an admin teaches.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.config import Config
from bot.pipeline import Pipeline
from bot.render import forgot_text, photo_count
from bot.teaching import GLOBAL, TeachingError, parse_learn
from bot.telegram import PLATFORM
from inference.decode import ImageRejected
from inference.few_shot import MIN_EXAMPLES
from storage.lessons import Lesson


def is_bot_admin(config: Config, message: Message) -> bool:
    """An admin named in ADMIN_IDS: may teach, forget and see /stats."""
    return bool(message.from_user and message.from_user.id in config.admin_ids)


class TelegramLessons:
    """The commands that run lessons, one per chat (`Teaching.lesson`)."""

    def __init__(self, config: Config, pipeline: Pipeline, chat_locks: defaultdict[int, asyncio.Lock]) -> None:
        self.config, self.pipeline, self.chat_locks = config, pipeline, chat_locks

    async def current(self, message: Message) -> Lesson | None:
        """The lesson this photo belongs to: same chat, same admin, not idle too long.

        Only admins teach, so everyone else's photos never ask the database.
        """
        if not is_bot_admin(self.config, message):
            return None
        lesson = await self.pipeline.teaching.lesson(PLATFORM, str(message.chat_id))
        return lesson if lesson and lesson.user_id == str(message.from_user.id) else None

    async def on_learn(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/learn <label> [#tag ...]: the admin's next photos in this chat teach the label, until /done."""
        message = update.effective_message
        if not is_bot_admin(self.config, message):
            await message.reply_text("Sorry, only the bot's admins can teach me new labels.")
            return
        try:
            command = parse_learn(" ".join(context.args or []))
            warnings = await self.pipeline.teaching.start(GLOBAL, command, str(message.from_user.id))
        except TeachingError as error:
            await message.reply_text(str(error))
            return
        await self.pipeline.teaching.begin_lesson(
            PLATFORM, str(message.chat_id), command.name, str(message.from_user.id)
        )
        tags = " ".join(f"#{t}" for t in command.tags) or "none (I derive them from the label)"
        await message.reply_text(
            "\n".join(
                [
                    f"Teaching “{command.name}”. Send me 5–30 photos of it in this chat (albums work), then /done."
                    + (
                        ""
                        if message.chat.type == ChatType.PRIVATE
                        else " In a group Telegram only shows me photos that mention me: add @"
                        f"{context.bot.username} to each caption, or teach me in a private chat."
                    ),
                    f"Its own hashtags: {tags}.",
                    "I keep only what the model computes from each photo, never the photo.",
                    *warnings,
                ]
            )
        )

    async def teach(self, message: Message, lesson: Lesson, download: Callable[[], Awaitable[bytes]] | None) -> None:
        """One of the admin's photos during a lesson: store it as an example (None: it could not be fetched)."""
        chat = str(message.chat_id)
        if download is None:
            await self.pipeline.teaching.lesson_photo(PLATFORM, chat, rejected=True)
            return
        try:
            count = await self.pipeline.teaching.add(GLOBAL, lesson.label, await download(), lesson.user_id)
        except ImageRejected as error:
            await self.pipeline.teaching.lesson_photo(PLATFORM, chat, rejected=True)
            await message.reply_text(f"Not added: {error.message}")
            return
        except TeachingError as error:
            await message.reply_text(str(error))
            return
        await self.pipeline.teaching.lesson_photo(PLATFORM, chat)
        more = "" if count >= MIN_EXAMPLES else f" — {MIN_EXAMPLES - count} more to go"
        await message.reply_text(f"“{lesson.label}”: {photo_count(count)}{more}. /done when finished.")

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/done: end the lesson, with the label's count and any warnings."""
        message = update.effective_message
        lesson = await self.current(message)
        if lesson is None:
            await message.reply_text("Nothing is being taught here. Start with /learn <label>.")
            return
        async with self.chat_locks[message.chat_id]:
            lesson = await self.pipeline.teaching.end_lesson(PLATFORM, str(message.chat_id)) or lesson
            count, warnings = await self.pipeline.teaching.review(GLOBAL, lesson.label)
        lines = [f"“{lesson.label}” has {photo_count(count)}."]
        if count >= MIN_EXAMPLES:
            lines.append("I recognise it from now on.")
        if lesson.rejected:
            lines.append(f"{lesson.rejected} file(s) could not be used.")
        await message.reply_text("\n".join(lines + warnings))

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/forget <label>: delete a taught label and its examples."""
        message = update.effective_message
        if not is_bot_admin(self.config, message):
            await message.reply_text("Sorry, only the bot's admins can make me forget labels.")
            return
        name = " ".join(context.args or []).strip().lower()
        if not name:
            await message.reply_text("Which label? /forget blue ceramic mug — /labels lists them.")
            return
        try:
            forgotten = await self.pipeline.teaching.forget(GLOBAL, name)
        except TeachingError as error:
            await message.reply_text(str(error))
            return
        await message.reply_text(forgot_text(name, forgotten))

    async def on_labels(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/labels: the model's classes and the taught ones with their example counts."""
        await update.effective_message.reply_text(await self.pipeline.teaching.describe(GLOBAL))
