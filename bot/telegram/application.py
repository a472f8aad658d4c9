"""All Telegram wiring in one place: the handlers, the durable inbox, the rate limiter, the transports."""

from __future__ import annotations

import logging

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.config import Config
from bot.pipeline import Pipeline
from bot.telegram.handlers import MAYBE_IMAGE_DOCUMENT, TelegramHandlers
from bot.telegram.http import AiohttpTransport
from bot.telegram.inbox import AnsweringProcessor, DurableBot, DurableQueue, Inbox
from bot.telegram.retry import RetryingRateLimiter

log = logging.getLogger(__name__)
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


def build_application(
    config: Config, pipeline: Pipeline, transports: tuple[AiohttpTransport, AiohttpTransport] | None = None
) -> Application:
    """All Telegram wiring in one place; `transports` (replies, getUpdates) when the caller closes them itself."""
    bot = TelegramHandlers(config, pipeline)
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

    telegram = DurableBot(
        inbox,
        token=config.telegram_token,
        base_url=config.telegram_api_base_url,
        base_file_url=config.telegram_file_base_url,
        request=requests,
        get_updates_request=updates,
        rate_limiter=RetryingRateLimiter(config.telegram_max_rate, config.send_patience),
    )
    application = (
        Application.builder()
        .bot(telegram)
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
