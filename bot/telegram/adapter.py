"""Telegram adapter: send a photo, get copy-ready hashtags.

Thin by design: handlers receive, check limits, call the shared `Pipeline`,
and answer. All wiring is in `build_application`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable

from telegram import (
    BotCommand,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Config
from bot.flood import FloodGuard
from bot.pipeline import Answer, Pipeline
from bot.render import (
    APOLOGY,
    count_lines,
    post_note,
    quoted,
    settings_text,
    stats_text,
    subject_line,
    tier_summary,
    too_big_text,
)
from bot.telegram.albums import Albums
from bot.telegram.http import AiohttpTransport
from bot.telegram.inbox import AnsweringProcessor, DurableQueue, Inbox
from bot.telegram.lessons import TelegramLessons, is_bot_admin
from bot.telegram.retry import RetryingRateLimiter, with_retries
from inference.decode import MODEL_SIZE, ImageRejected, might_be_image
from inference.scene import Scene
from storage import shown
from storage.database import DatabaseError
from storage.processes import BEAT_SECONDS
from storage.settings import MAX_TAG_COUNT, ChatSettings
from trends.composer import ComposedTags

log = logging.getLogger(__name__)
PLATFORM = "telegram"
# python-telegram-bot's name for its long-polling task (telegram/ext/_updater.py); tests/test_faults.py relies on it.
POLLING_TASK = "Updater:start_polling:polling_task"
COPY_TEXT_LIMIT = 256
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
COMMANDS = [
    BotCommand("start", "What this bot does"),
    BotCommand("help", "How to use it, and privacy"),
    BotCommand("hashtags", "Reply to a photo to get its hashtags"),
    BotCommand("settings", "Number of tags and post counts"),
    BotCommand("about", "Model, classes and version"),
    BotCommand("labels", "What I recognise, taught classes included"),
    BotCommand("learn", "Teach a new label from photos (admins)"),
    BotCommand("done", "Finish teaching (admins)"),
    BotCommand("forget", "Forget a taught label (admins)"),
    BotCommand("stats", "Usage figures (admins)"),
]


def pick_photo(sizes: tuple[PhotoSize, ...]) -> PhotoSize:
    """The smallest size still at least 224 px on its short side; the largest if none is."""
    ordered = sorted(sizes, key=lambda s: s.width * s.height)
    return next((s for s in ordered if min(s.width, s.height) >= MODEL_SIZE), ordered[-1])


def answer_html(answer: Answer) -> str:
    """The reply to a photo or an album, in Telegram's HTML."""
    return tags_html(answer.scene, answer.tags, answer.show_counts, post_note(answer))


def tags_html(scene: Scene, tags: ComposedTags, with_counts: bool, note: str = "") -> str:
    """Subject, one tap-to-copy line, a short note (and what an album's answer covers)."""
    lines = [f"📷 <b>{html.escape(subject_line(scene))}</b>", f"<code>{html.escape(tags.line)}</code>"]
    if with_counts:
        lines += [html.escape(line) for line in count_lines(tags)]
    elif summary := tier_summary(tags.tags):
        lines.append(f"<i>{html.escape(summary)}</i>")
    if note:
        lines.append(html.escape(note))
    return "\n".join(lines)


def keyboard(tags: ComposedTags, key: str) -> InlineKeyboardMarkup:
    """Copy button (when the line fits Telegram's 256-character limit), more tags, with counts."""
    row = []
    if len(tags.line) <= COPY_TEXT_LIMIT:
        row.append(InlineKeyboardButton("📋 Copy", copy_text=CopyTextButton(tags.line)))
    row += [
        InlineKeyboardButton("➕ More tags", callback_data=f"more:{key}"),
        InlineKeyboardButton("📊 With counts", callback_data=f"counts:{key}"),
    ]
    return InlineKeyboardMarkup([row])


class TelegramBot:
    """Handlers and their state (flood guard, answers kept for buttons)."""

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config, self.pipeline = config, pipeline
        self.flood = FloodGuard(config.flood_photos, config.flood_window)
        # Buttons name their answer (kept in the database, `storage.shown`) by a key no other process
        # sharing the database hands out.
        prefix = secrets.token_hex(4)
        self._keys = (f"{prefix}-{n}" for n in itertools.count(1))
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
        key = self._keep(answer)
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
        too_big = too_big_text(file_ref.file_size, self.config.max_file_bytes) + " Please send it as a photo."
        if file_ref.file_size and file_ref.file_size > self.config.max_file_bytes:
            await reply_to.reply_text(too_big)
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
                    raise ImageRejected("too_big", too_big) from None
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
        kept = await shown.find(self.pipeline.db, key)
        if kept is None:
            await query.answer("This answer is too old — please send the photo again.", show_alert=True)
            return
        await query.answer()
        if action == "more":
            offset = kept.offset + kept.count
            tags = await self.pipeline.page(kept.scene, offset, kept.count) if offset < MAX_TAG_COUNT else None
            if not tags or not tags.tags:
                offset, tags = 0, await self.pipeline.page(kept.scene, 0, kept.count)
            await shown.turn(self.pipeline.db, key, offset)
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
        current = await self.pipeline.chat_settings(PLATFORM, chat_id)
        args = [a.lower() for a in context.args or []]
        if args:
            if message.chat.type != ChatType.PRIVATE and not await self._is_chat_admin(message, context):
                await message.reply_text("Only the group's admins can change its settings.")
                return
            count, show = current.tag_count, current.show_counts
            for arg in args:
                if re.fullmatch(r"[0-9]{1,2}", arg) and 1 <= int(arg) <= MAX_TAG_COUNT:
                    count = int(arg)
                elif arg in ("on", "off"):
                    show = arg == "on"
                elif arg != "counts":
                    await message.reply_text(
                        f"I didn't understand “{quoted(arg)}”. Use /settings 8 (tags, 1–{MAX_TAG_COUNT}) "
                        "or /settings counts on|off."
                    )
                    return
            current = ChatSettings(count, show)
            await self.pipeline.save_chat_settings(PLATFORM, chat_id, current)
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

    def _keep(self, answer: Answer) -> str:
        key = next(self._keys)
        self.pipeline.keep_shown(key, shown.Shown(answer.scene, len(answer.tags.tags) or self.config.default_tag_count))
        return key

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


def build_application(
    config: Config, pipeline: Pipeline, transports: tuple[AiohttpTransport, AiohttpTransport] | None = None
) -> Application:
    """All Telegram wiring in one place; `transports` (replies, getUpdates) when the caller closes them itself."""
    bot = TelegramBot(config, pipeline)
    requests, updates = transports or (AiohttpTransport(pool_size=256), AiohttpTransport(pool_size=1))
    inbox = Inbox(pipeline.db, config.replay_minutes * 60, pipeline.process)
    queue = DurableQueue(inbox)

    async def prepare(application: Application) -> None:
        """After getMe, before receiving: the command menu, then what a crash left unanswered."""
        inbox.bot_id = application.bot.id
        try:
            await application.bot.set_my_commands(COMMANDS)
        except TelegramError as error:
            log.warning("could not register the command menu (%s)", error.message)
        await queue.replay(application.bot)

    application = (
        Application.builder()
        .token(config.telegram_token)
        .base_url(config.telegram_api_base_url)
        .base_file_url(config.telegram_file_base_url)
        .request(requests)
        .get_updates_request(updates)
        .rate_limiter(RetryingRateLimiter(config.telegram_max_rate, config.send_patience))
        # Bounded: with every update of a getUpdates batch in flight at once, 100 photos competed for
        # one event loop and each took seconds; bounded, they wait in order and the loop does less.
        .concurrent_updates(AnsweringProcessor(inbox, config.telegram_concurrency, pipeline.writer.settle))
        .update_queue(queue)
        .post_init(prepare)
        .build()
    )
    application.add_handler(CommandHandler(["start", "help"], bot.on_help))
    application.add_handler(CommandHandler("about", bot.on_about))
    application.add_handler(CommandHandler("settings", bot.on_settings))
    application.add_handler(CommandHandler("stats", bot.on_stats))
    application.add_handler(CommandHandler("hashtags", bot.on_hashtags))
    application.add_handler(CommandHandler("learn", bot.lessons.on_learn))
    application.add_handler(CommandHandler("done", bot.lessons.on_done))
    application.add_handler(CommandHandler("forget", bot.lessons.on_forget))
    application.add_handler(CommandHandler("labels", bot.lessons.on_labels))
    application.add_handler(MessageHandler(filters.PHOTO | MAYBE_IMAGE_DOCUMENT, bot.on_photo))
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(
        MessageHandler(
            private
            & (
                filters.Sticker.ALL
                | filters.VIDEO
                | filters.VIDEO_NOTE
                | filters.ANIMATION
                | filters.Document.ALL
                | filters.VOICE
                | filters.AUDIO
            ),
            bot.on_not_an_image,
        )
    )
    application.add_handler(MessageHandler(private, bot.on_anything_else))
    application.add_handler(CallbackQueryHandler(bot.on_button, pattern=r"^(more|counts):"))
    application.add_error_handler(bot.on_error)
    return application


class TelegramAdapter:
    """Telegram as the runner sees it: start receiving (long polling or the webhook), stop cleanly.

    `running` is python-telegram-bot's polling task: it retries network errors
    itself, and ends only when Telegram rejects the token (a 401 or 404 to
    getUpdates), after which the bot would be deaf; the runner watches it.
    """

    name = PLATFORM
    chat = True

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config = config
        self.transports = (AiohttpTransport(pool_size=256), AiohttpTransport(pool_size=1))
        self.application = build_application(config, pipeline, self.transports)
        self.running: asyncio.Task | None = None
        self._adopting: asyncio.Task | None = None

    async def start(self) -> None:
        """Reach the Bot API (retrying for TELEGRAM_STARTUP_PATIENCE_SECONDS), then receive."""
        delay, waited = 1.0, 0.0
        while True:
            try:
                await self.application.initialize()
                await self.application.post_init(self.application)
                break
            except NetworkError as error:
                if waited >= self.config.telegram_startup_patience:
                    raise Unreachable(
                        f"Telegram's Bot API did not answer for {waited:.0f} s ({type(error).__name__}): "
                        "check the network, or TELEGRAM_API_BASE_URL"
                    ) from None
                log.warning(
                    "Telegram's Bot API is not answering (%s); trying again in %.0f s", type(error).__name__, delay
                )
                await asyncio.sleep(delay)
                waited, delay = waited + delay, min(2 * delay, 30.0)
        await self.application.start()
        if self.config.webhook_url:
            await self.application.updater.start_webhook(
                listen="0.0.0.0",
                port=self.config.webhook_port,
                url_path="telegram",
                secret_token=self.config.webhook_secret or None,
                webhook_url=f"{self.config.webhook_url.rstrip('/')}/telegram",
            )
        else:
            # A stop waits for the long poll in flight (python-telegram-bot confirms the last updates with it).
            await self.application.updater.start_polling(timeout=self.config.telegram_poll_timeout)
            self.running = next(task for task in asyncio.all_tasks() if task.get_name() == POLLING_TASK)
        self._adopting = asyncio.create_task(self._adopt_forever(), name="telegram-adopt")
        log.info("telegram adapter running (%s)", "webhook" if self.config.webhook_url else "long polling")

    async def _adopt_forever(self) -> None:
        """Answer what other processes sharing the database took and could not answer (they died)."""
        while True:
            await asyncio.sleep(BEAT_SECONDS)
            try:
                await self.application.update_queue.replay(self.application.bot)
            except DatabaseError as error:
                log.warning("could not look for updates left by stopped processes (%s)", error)

    async def stop(self) -> None:
        """Stop receiving, let the updates in hand finish, close the connections (also after a failed start)."""
        if self._adopting:
            self._adopting.cancel()
        if self.application.updater.running:
            with contextlib.suppress(InvalidToken):  # how the polling task ended; the runner has reported it
                await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        for transport in self.transports:
            await transport.shutdown()

    @staticmethod
    def retryable(error: BaseException) -> bool:
        """Anything but Telegram rejecting the token."""
        return not isinstance(error, InvalidToken)

    @staticmethod
    def describe(error: BaseException) -> str:
        """One line on why Telegram stopped, naming what to fix and never the token."""
        if isinstance(error, InvalidToken):
            return "TELEGRAM_BOT_TOKEN was rejected by Telegram: check it with @BotFather"
        if isinstance(error, Unreachable):
            return str(error)
        return f"Telegram stopped receiving ({type(error).__name__})"


class Unreachable(Exception):
    """The Bot API did not answer at start for as long as we wait."""
