"""The Telegram adapter: what the runner starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.error import InvalidToken, NetworkError

from bot.chat_inbox import ADOPT_SECONDS
from bot.config import Config
from bot.pipeline import Pipeline
from bot.retrying import Backoff, repeat
from bot.telegram import PLATFORM
from bot.telegram.application import build_application
from bot.telegram.http import AiohttpTransport

log = logging.getLogger(__name__)
# python-telegram-bot's name for its long-polling task (telegram/ext/_updater.py); tests/test_faults.py relies on it.
POLLING_TASK = "Updater:start_polling:polling_task"
# Waits between attempts to reach the Bot API at start, in seconds: doubling from the first to the last.
START_RETRY = (1.0, 30.0)


class TelegramAdapter:
    """Telegram as the runner sees it: reach the Bot API, start receiving (long polling or the webhook), stop cleanly.

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
        backoff = Backoff(*START_RETRY)
        while True:
            try:
                await self.application.initialize()
                await self.application.post_init(self.application)
                break
            except NetworkError as error:
                if backoff.waited >= self.config.telegram_startup_patience:
                    raise Unreachable(
                        f"Telegram's Bot API did not answer for {backoff.waited:.0f} s ({type(error).__name__}): "
                        "check the network, or TELEGRAM_API_BASE_URL"
                    ) from None
                delay = backoff.next()
                log.warning(
                    "Telegram's Bot API is not answering (%s); trying again in %.0f s", type(error).__name__, delay
                )
                await asyncio.sleep(delay)
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
        # What other processes sharing the database took and could not answer (they died).
        adopt = repeat(
            lambda: self.application.update_queue.replay(self.application.bot),
            ADOPT_SECONDS,
            "could not look for updates left by stopped processes",
        )
        self._adopting = asyncio.create_task(adopt, name="telegram-adopt")
        log.info("telegram adapter running (%s)", "webhook" if self.config.webhook_url else "long polling")

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
