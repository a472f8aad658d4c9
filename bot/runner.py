"""Serving: every configured adapter and the background jobs in one process, until SIGINT or SIGTERM.

All adapters share one pipeline (one classifier, one database handle) and one
trend refresher. An adapter that stops (a rejected token, an API that never
answers) says why in one line and in the database, for `--check`; the others
keep serving, and it is started again on a slow back-off when that can help
(not after a rejected token). When no chat adapter is left the process exits
with status 3, for systemd's Restart=on-failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Protocol

from bot.config import Config
from bot.discord.adapter import DiscordAdapter
from bot.pipeline import Pipeline, open_pipeline
from bot.retrying import Backoff, repeat
from bot.telegram.adapter import TelegramAdapter
from bot.web.adapter import WebAdapter
from storage import adapter_state, inbox, processes, request_log, shown
from storage.database import DAY
from storage.errors import DatabaseError
from storage.processes import BEAT_SECONDS
from trends.instagram import InstagramClient
from trends.refresher import TrendRefresher

log = logging.getLogger("bot")
# Exit status when every chat adapter has stopped for good: systemd's Restart=on-failure starts the bot again.
ADAPTERS_DOWN = 3
# A chat adapter that stopped while another still serves is started again after ADAPTER_RETRY_SECONDS,
# the wait doubling up to this (seconds).
ADAPTER_RETRY_LONGEST = 900.0


class Adapter(Protocol):
    """A platform as the runner drives it: every adapter starts and stops the same way.

    `running` is a task that ends if the adapter stops receiving on its own (None when nothing
    can stop it but the runner); `chat` adapters are the ones the process exists for. `describe`
    says in one line why it stopped, naming what to fix and never a token; `retryable` whether
    starting it again can help.
    """

    name: str
    chat: bool
    running: asyncio.Task | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @staticmethod
    def describe(error: BaseException) -> str: ...

    @staticmethod
    def retryable(error: BaseException) -> bool: ...


class Supervisor:
    """The adapters of one process: started together, watched, restarted on a back-off, stopped together."""

    def __init__(self, pipeline: Pipeline, makers: dict[str, Callable[[], Adapter]], first_retry: float) -> None:
        self.pipeline, self.makers = pipeline, makers
        self.adapters = {name: make() for name, make in makers.items()}
        self.chats = [name for name, adapter in self.adapters.items() if adapter.chat]
        self.up: dict[str, Adapter] = {}
        self.retries: dict[asyncio.Task, str] = {}
        self.backoffs = {name: Backoff(first_retry, ADAPTER_RETRY_LONGEST) for name in self.adapters}

    async def run(self, stop: asyncio.Event, background: list[asyncio.Task]) -> int:
        """Until `stop` is set (0) or no chat adapter is left (ADAPTERS_DOWN); a background job's crash is raised."""
        # Together: one platform slow to answer at start does not hold up the others.
        await asyncio.gather(*(self._start(adapter) for adapter in self.adapters.values()))
        stopped = asyncio.create_task(stop.wait())
        try:
            while True:
                if not self.up or (self.chats and not any(name in self.up for name in self.chats)):
                    log.error("nothing is receiving: stopping with status %d", ADAPTERS_DOWN)
                    return ADAPTERS_DOWN
                watched = {a.running: a for a in self.up.values() if a.running}
                done, _ = await asyncio.wait(
                    [stopped, *background, *watched, *self.retries], return_when=asyncio.FIRST_COMPLETED
                )
                if stopped in done:
                    log.info("shutting down")
                    return 0
                for task in done:
                    if task in watched:
                        await self._down(watched[task], task.exception() or RuntimeError("stopped"))
                    elif task in self.retries:
                        await self._restart(self.retries.pop(task))
                    elif task.exception():
                        raise task.exception()
        finally:
            stopped.cancel()

    async def close(self) -> None:
        """Stop every adapter, after the work in flight; say so in the database."""
        for task in self.retries:
            task.cancel()
        for adapter in self.adapters.values():
            await adapter.stop()
            if adapter.name in self.up and adapter.chat:
                await self._report(adapter.name, False, "stopped with the bot")

    async def _start(self, adapter: Adapter) -> None:
        try:
            await adapter.start()
        except Exception as error:  # noqa: BLE001 - any failed start is a stopped adapter, reported like one
            await self._down(adapter, error)
            return
        self.up[adapter.name] = adapter
        self.backoffs[adapter.name].reset()
        if adapter.chat:
            await self._report(adapter.name, True, "receiving")

    async def _restart(self, name: str) -> None:
        await self.adapters[name].stop()
        self.adapters[name] = self.makers[name]()
        await self._start(self.adapters[name])

    async def _down(self, adapter: Adapter, error: BaseException) -> None:
        reason = adapter.describe(error)
        self.up.pop(adapter.name, None)
        if adapter.chat and adapter.retryable(error):
            delay = self.backoffs[adapter.name].next()
            self.retries[asyncio.create_task(asyncio.sleep(delay))] = adapter.name
            reason += f"; trying again in {delay:.0f} s"
        log.error("%s is not receiving: %s", adapter.name, reason)
        await self._report(adapter.name, False, reason)

    async def _report(self, name: str, receiving: bool, why: str) -> None:
        await adapter_state.set_state(self.pipeline.db, self.pipeline.process, name, receiving, why)


async def keep_tidy(config: Config, pipeline: Pipeline) -> None:
    """Apply the request-log retention, and clear old received updates, at start and then daily."""
    while True:
        removed = await request_log.delete_older_than(pipeline.db, config.retention_days)
        if removed:
            log.info("retention: deleted %d request rows older than %g days", removed, config.retention_days)
        await inbox.tidy(pipeline.db, config.replay_minutes * 60)
        await processes.tidy(pipeline.db)
        await shown.tidy(pipeline.db)
        await asyncio.sleep(DAY)


def background_jobs(config: Config, pipeline: Pipeline) -> list[asyncio.Task]:
    """Retention, this process's lease, taught labels from other processes, and Instagram when it has a session."""
    jobs = [
        asyncio.create_task(keep_tidy(config, pipeline), name="retention"),
        asyncio.create_task(
            repeat(
                lambda: processes.beat(pipeline.db, pipeline.process),
                BEAT_SECONDS,
                "could not renew this process's lease in the database",
            ),
            name="lease",
        ),
        asyncio.create_task(
            repeat(pipeline.teaching.sync, config.taught_sync, "could not look for labels taught elsewhere"),
            name="taught-labels",
        ),
    ]
    if config.instagram_session_file:
        client = InstagramClient(config.instagram_session_file, config.instagram_username or None)
        refresher = TrendRefresher(pipeline.db, client, pipeline.catalogue, config.refresh)
        jobs.append(asyncio.create_task(refresher.run_forever(), name="trend-refresher"))
    else:
        log.info("no INSTAGRAM_SESSION_FILE: hashtags come from the curated catalogue only")
    return jobs


def adapter_makers(config: Config, pipeline: Pipeline) -> dict[str, Callable[[], Adapter]]:
    """Each platform that has a token; the web page when asked, or when there is no chat token."""
    makers: dict[str, Callable[[], Adapter]] = {}
    if config.telegram_token:
        makers["telegram"] = lambda: TelegramAdapter(config, pipeline)
    if config.discord_token:
        makers["discord"] = lambda: DiscordAdapter(
            config,
            pipeline,
            lambda receiving, why: adapter_state.set_state(pipeline.db, pipeline.process, "discord", receiving, why),
        )
    if config.web_enabled or not makers:
        makers["web"] = lambda: WebAdapter(config, pipeline)
    return makers


async def serve(config: Config) -> int:
    """Run every configured adapter until SIGINT/SIGTERM, then finish in-flight work and close; the exit status."""
    pipeline = await open_pipeline(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await processes.beat(pipeline.db, pipeline.process)
    log.info("process %s serving", pipeline.process)
    background = background_jobs(config, pipeline)
    supervisor = Supervisor(pipeline, adapter_makers(config, pipeline), config.adapter_retry)
    try:
        return await supervisor.run(stop, background)
    finally:
        await supervisor.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        with contextlib.suppress(DatabaseError):
            await processes.leave(pipeline.db, pipeline.process)
        await pipeline.close()
        log.info("stopped")
