"""The Discord adapter: what the runner starts and stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.config import Config
from bot.discord import PLATFORM
from bot.discord.client import HashtagClient, build_client
from bot.pipeline import Pipeline
from bot.retrying import Backoff

log = logging.getLogger(__name__)
# Back-off between attempts to reach Discord again, in seconds: it doubles from the first to the last.
RECONNECT_FIRST, RECONNECT_LAST = 5.0, 300.0


class DiscordAdapter:
    """Discord as the runner sees it: start receiving commands, stop after the ones in flight.

    discord.py reconnects a gateway that drops, but not a client whose first connection fails:
    the sharded client gives up on an unreachable REST API, and the plain one crashes when the
    gateway is down at start (Rapptz/discord.py#10520). `running` retries both on a slow
    back-off; only a rejected token ends it, which retrying cannot mend.
    """

    name = PLATFORM
    chat = True

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        report: Callable[[bool, str], Awaitable[None]] | None = None,
        first_delay: float = RECONNECT_FIRST,
    ) -> None:
        self.config, self.pipeline = config, pipeline
        self.running: asyncio.Task | None = None
        self._report, self._first_delay = report, first_delay
        self.client = self._new_client()

    def _new_client(self) -> HashtagClient:
        """A client for one attempt: a closed discord.py client keeps its closed HTTP session."""
        client = build_client(self.config, self.pipeline)
        if self._report:
            report = self._report

            async def on_ready() -> None:
                # discord.py dispatches `ready` ~2 s after READY even when the gateway has closed
                # for good since: a client that has already stopped must not report itself receiving.
                if not client.is_closed():
                    await report(True, "receiving")

            client.event(on_ready)
        return client

    async def start(self) -> None:
        """Connect in the background; `running` ends only if Discord rejects the token."""
        self.running = asyncio.create_task(self._run(), name="discord")
        log.info("discord adapter starting")

    async def _run(self) -> None:
        backoff = Backoff(self._first_delay, RECONNECT_LAST)
        while True:
            try:
                await self.client.start(self.config.discord_token)
                return
            except Exception as error:
                if not self.retryable(error):
                    raise
                delay = backoff.next()
                log.warning("discord is not receiving: %s; trying again in %.0f s", self.describe(error), delay)
                if self._report:
                    await self._report(False, f"{self.describe(error)}; trying again")
            await self.client.close()
            await asyncio.sleep(delay)
            self.client = self._new_client()

    async def stop(self) -> None:
        await self.client.handlers.finish()
        await self.client.close()
        if self.running:
            self.running.cancel()
            await asyncio.gather(self.running, return_exceptions=True)

    @staticmethod
    def retryable(error: BaseException) -> bool:
        """Everything but Discord refusing the bot (a bad token, intents it may not have)."""
        rejected = isinstance(error, discord.ConnectionClosed) and error.code in (4004, 4010, 4011, 4012, 4013, 4014)
        return not (rejected or isinstance(error, discord.LoginFailure | discord.PrivilegedIntentsRequired))

    @staticmethod
    def describe(error: BaseException) -> str:
        """One line on why Discord stopped, naming what to fix and never the token."""
        if isinstance(error, discord.LoginFailure) or (
            isinstance(error, discord.ConnectionClosed) and error.code == 4004
        ):
            return "DISCORD_BOT_TOKEN was rejected by Discord (4004)"
        if isinstance(error, discord.ConnectionClosed):
            return f"Discord's gateway closed the connection for good ({error.code})"
        return f"Discord did not answer ({type(error).__name__})"
