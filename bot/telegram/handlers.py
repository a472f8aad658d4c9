"""What the bot does with each Telegram update: photos, albums, buttons and commands.

The handlers receive, check limits, call the shared `Pipeline`, and answer;
`bot.telegram.application` wires them to python-telegram-bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from telegram import Message, PhotoSize, Update
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import ContextTypes, filters

from bot.config import Config
from bot.flood import FloodGuard
from bot.pipeline import Pipeline
from bot.render import APOLOGY, TAG_COUNTS, quoted, settings_text, stats_text, tag_count, too_big, too_big_text
from bot.telegram import PLATFORM
from bot.telegram.albums import Albums
from bot.telegram.lessons import TelegramLessons, is_bot_admin
from bot.telegram.render import answer_html, keyboard, tags_html
from bot.telegram.retry import with_retries
from inference.decode import MODEL_SIZE, ImageRejected, might_be_image

log = logging.getLogger(__name__)
# A file too big for the bot (or for Telegram to give it): a photo is sent smaller.
SEND_AS_PHOTO = "Please send it as a photo."
NOT_FETCHED = "Telegram could not give me this photo (it may have expired). Please send it again."
NOT_FETCHED_IN_TIME = "Telegram did not give me this photo in time. Please send it again in a moment."

HELP = (
    "Send me a photo and I answer with a few Instagram hashtags that fit it and are actually used.\n\n"
    "• Send a photo (or an image as a file). In groups, mention me in the caption or reply /hashtags to a photo.\n"
    "• Tap the tags to copy them, or use the buttons for more tags and post counts.\n"
    "• /settings — how many tags (1–30) and whether to show post counts.\n"
    "• /about — the model and what it knows; /labels — every label, taught ones included.\n"
    "• Admins: /learn blue ceramic mug #mug #ceramics, then send 5–30 photos and /done; /forget a label.\n\n"
    "Privacy: photos are analysed in memory and never stored. I keep a hash of each photo, the labels and tags "
    "I answered, and your Telegram id, for statistics. Photos sent to /learn are kept only as the numbers the "
    "model computes from them."
)


def pick_photo(sizes: tuple[PhotoSize, ...]) -> PhotoSize:
    """The smallest size still at least 224 px on its short side; the largest if none is."""
    ordered = sorted(sizes, key=lambda s: s.width * s.height)
    return next((s for s in ordered if min(s.width, s.height) >= MODEL_SIZE), ordered[-1])


class TelegramHandlers:
    """The handlers and their state: the flood guard, each chat's order, albums being gathered, lessons."""

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config, self.pipeline = config, pipeline
        self.flood = FloodGuard(config.flood_photos, config.flood_window)
        # Photos of one chat are answered one after another, so answers keep the photos' order;
        # different chats still run concurrently.
        self._chat_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.lessons = TelegramLessons(config, pipeline, self._chat_locks)
        self.albums = Albums(config.album_wait)

    # -- photos ---------------------------------------------------------------

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or image file: answer with its hashtags; an album's photos with one answer for all."""
        message = update.effective_message
        lesson = await self.lessons.current(message)
        if lesson is not None:
            async with self._chat_locks[message.chat_id]:
                await self.lessons.teach(message, lesson, await self._download(message, message, context))
            return
        wanted = message.chat.type == ChatType.PRIVATE or self._mentioned(message, context)
        if message.media_group_id and (wanted or self.albums.is_open(message)):
            album = await self.albums.gather(message)
            if album is None:
                return
            try:
                async with self._chat_locks[message.chat_id]:
                    await self._answer_photos(album.messages, message, context)
            finally:
                self.albums.done(album)
        elif wanted:
            async with self._chat_locks[message.chat_id]:
                await self._answer_photos([message], message, context)

    async def on_hashtags(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/hashtags as a reply to a photo."""
        message = update.effective_message
        target = message.reply_to_message
        if target is None or not (target.photo or MAYBE_IMAGE_DOCUMENT.filter(target)):
            await message.reply_text("Reply to a photo with /hashtags — or just send me a photo.")
            return
        await self._answer_photos([target], message, context)

    async def _answer_photos(self, photos: list[Message], reply_to: Message, context: ContextTypes.DEFAULT_TYPE):
        """One answer for the photos of one post (a single photo, or an album's)."""
        user = reply_to.from_user.id if reply_to.from_user else reply_to.chat.id
        if not self.flood.allow(user, photos[0].media_group_id):
            await reply_to.reply_text(
                f"That's a lot of photos at once — please wait a few seconds (limit: {self.flood.limit} "
                f"every {self.flood.window:.0f} s)."
            )
            return
        # A photo too big to fetch has been refused on its own; the rest of its album is still answered.
        downloads = [d for photo in photos if (d := await self._download(photo, reply_to, context)) is not None]
        if not downloads:
            return
        typing = asyncio.create_task(self._show_typing(reply_to.chat_id, context))
        try:
            answer = await self.pipeline.answer(downloads, PLATFORM, str(reply_to.chat_id), str(user))
        except ImageRejected as error:
            await reply_to.reply_text(error.message)
            return
        finally:
            typing.cancel()
        key, _ = self.pipeline.keep(answer)
        html_text, markup = answer_html(answer), keyboard(answer.tags, key)
        try:
            await self.pipeline.deliver([answer], lambda: reply_to.reply_html(html_text, reply_markup=markup))
        except TimedOut:
            # Logged as send_failed. The answer most likely arrived: an apology now could be a second message.
            log.warning("the answer to chat %s was sent but not confirmed in time", reply_to.chat_id)

    async def _download(
        self, photo_message: Message, reply_to: Message, context: ContextTypes.DEFAULT_TYPE
    ) -> Callable[[], Awaitable[bytes]] | None:
        """The photo's download, or None after telling the user the file is too big to fetch."""
        file_ref = pick_photo(photo_message.photo) if photo_message.photo else photo_message.document
        refusal = too_big(file_ref.file_size, self.config.max_file_bytes)
        if refusal:
            await reply_to.reply_text(f"{refusal} {SEND_AS_PHOTO}")
            return None

        async def download() -> bytes:
            """getFile and the download, each retried within SEND_RETRY_SECONDS (`with_retries`)."""
            try:
                file = await context.bot.get_file(file_ref.file_id)
                fetch = file.download_as_bytearray
                return bytes(await with_retries(fetch, self.config.send_patience, "a file download", read_only=True))
            except BadRequest as error:
                # Telegram leaves file_size out now and then; its getFile then refuses the big file itself.
                if "too big" in error.message.lower():
                    refusal = too_big_text(file_ref.file_size, self.config.max_file_bytes)
                    raise ImageRejected("too_big", f"{refusal} {SEND_AS_PHOTO}") from None
                raise ImageRejected("fetch_failed", NOT_FETCHED) from None
            except InvalidToken:  # what python-telegram-bot makes of a 404 for the file (the token worked for getFile)
                raise ImageRejected("fetch_failed", NOT_FETCHED) from None
            except NetworkError:  # still failing when the retries ran out
                raise ImageRejected("fetch_failed", NOT_FETCHED_IN_TIME) from None

        return download

    async def _show_typing(self, chat_id: int, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show "typing…" only when the answer is slow to come.

        Most answers arrive well under a second, when the indicator would only
        flash; and every chat action counts against the Bot API's ~30 calls/s,
        so sending it for each photo would halve the replies the bot can send.
        """
        await asyncio.sleep(self.config.typing_delay)
        with contextlib.suppress(TelegramError):
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)

    async def on_not_an_image(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, videos, other files: say what we need."""
        await update.effective_message.reply_text(
            "I can only read photos. Please send a photo (JPEG, PNG, WebP) — stickers, videos and other files "
            "don't work."
        )

    async def on_anything_else(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Text, a location, a contact in a private chat: silence would look broken, so say what the bot does."""
        await update.effective_message.reply_text("Send me a photo and I answer with hashtags for it. /help for more.")

    # -- buttons ----------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """'More tags' shows the next best set; 'With counts' adds post counts and tiers."""
        query = update.callback_query
        action, _, key = (query.data or "").partition(":")
        kept = await self.pipeline.kept(key)
        if kept is None:
            await query.answer("This answer is too old — please send the photo again.", show_alert=True)
            return
        await query.answer()
        if action == "more":
            offset = kept.offset + kept.count
            tags = await self.pipeline.page(kept.scene, offset, kept.count)
            if not tags.tags:
                offset, tags = 0, await self.pipeline.page(kept.scene, 0, kept.count)
            await self.pipeline.turn(key, offset)
            with_counts = False
        else:
            tags, with_counts = await self.pipeline.page(kept.scene, kept.offset, kept.count), True
        try:
            await query.edit_message_text(
                tags_html(kept.scene, tags, with_counts),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(tags, key),
            )
        except BadRequest as error:
            # A second tap on "With counts" asks for the text already shown: nothing to do, nothing to say.
            if "message is not modified" not in error.message.lower():
                raise

    # -- commands -----------------------------------------------------------------

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help."""
        await update.effective_message.reply_text(HELP)

    async def on_about(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/about: the model and its classes."""
        classifier = self.pipeline.classifier
        await update.effective_message.reply_text(
            f"Model {classifier.version}: MobileNetV2 transfer model served with LiteRT.\n"
            f"Own classes: {', '.join(classifier.classes)}"
            + (" (each claims only photos that look like it).\n" if classifier.open_set else ".\n")
            + "People are seen by a segmentation model; anything else is named by the subjects the 1000 ImageNet "
            "classes add up to, and only when I am sure.\n"
            "Hashtag popularity comes from Instagram, refreshed in the background."
        )

    async def on_settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/settings [1–30] [counts on|off]: per-chat preferences."""
        message = update.effective_message
        chat_id = str(message.chat_id)
        args = [a.lower() for a in context.args or []]
        if args and message.chat.type != ChatType.PRIVATE and not await self._is_chat_admin(message, context):
            await message.reply_text("Only the group's admins can change its settings.")
            return
        count, show = None, None
        for arg in args:
            if (chosen := tag_count(arg)) is not None:
                count = chosen
            elif arg in ("on", "off"):
                show = arg == "on"
            elif arg != "counts":
                await message.reply_text(
                    f"I didn't understand “{quoted(arg)}”. Use /settings 8 (tags, {TAG_COUNTS}) "
                    "or /settings counts on|off."
                )
                return
        current = await self.pipeline.chat_settings(PLATFORM, chat_id, count, show)
        await message.reply_text(
            settings_text(current, self.config.default_tag_count)
            + "\n\nChange with /settings 8 or /settings counts on."
        )

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats: usage figures, for the admins named in ADMIN_IDS."""
        message = update.effective_message
        if not is_bot_admin(self.config, message):
            await message.reply_text("Sorry, /stats is for the bot's admins.")
            return
        await message.reply_text(stats_text(await self.pipeline.report()))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every unexpected error and tell the user something went wrong."""
        log.error("update failed: %s", context.error, exc_info=context.error)
        if isinstance(update, Update) and update.effective_message:
            try:
                await update.effective_message.reply_text(APOLOGY)
            except TelegramError:
                log.warning("could not tell the user about the error")

    @staticmethod
    def _mentioned(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        caption = message.caption or ""
        return f"@{context.bot.username}".lower() in caption.lower()

    @staticmethod
    async def _is_chat_admin(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        if not message.from_user:
            return False
        member = await context.bot.get_chat_member(message.chat_id, message.from_user.id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


class _MaybeImageDocument(filters.MessageFilter):
    """A file that may be an image (image/*, a generic type, none): `inference.decode` judges its bytes."""

    def filter(self, message: Message) -> bool:
        return bool(message.document and might_be_image(message.document.mime_type))


MAYBE_IMAGE_DOCUMENT = _MaybeImageDocument(name="MAYBE_IMAGE_DOCUMENT")
