"""Run the bot: `python -m bot` starts every chat adapter that has a token, in one process.

With no chat token (or WEB_ENABLED) it serves the try-it page, the JSON API and
the admins' dashboard on WEB_HOST:WEB_PORT, 127.0.0.1:8080 by default.

`python -m bot --console PHOTO...` prints what the bot would answer, with no token.

Configuration comes from the environment and `.env` (see `.env.example`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.config import Config, load_config_or_exit
from bot.health import token_lines
from bot.logs import setup_logging
from bot.memory import give_back
from bot.pipeline import Pipeline
from bot.render import adapter_line, count_lines, subject_line, tier_summary
from inference.classifier import Classifier
from inference.decode import MODEL_SIZE, ImageRejected
from inference.model_folder import REGIONS_FILE, STATS_FILE
from storage import adapter_state, inbox, processes, request_log, shown, taught, trend_store
from storage.database import DAY, open_database
from storage.errors import DatabaseError, DatabaseUnavailable, SchemaTooNew
from storage.processes import BEAT_SECONDS
from trends.catalogue import Catalogue
from trends.instagram import InstagramClient
from trends.refresher import TrendRefresher

log = logging.getLogger("bot")


async def open_pipeline(config: Config) -> Pipeline:
    classifier = Classifier(config.model_dir, confidence=config.confidence)
    db = await open_database(config.database)
    pipeline = Pipeline(
        classifier,
        db,
        Catalogue(),
        config.default_tag_count,
        config.max_image_pixels,
        config.log_backlog,
        config.decode_memory_mb * 1_000_000,
    )
    await pipeline.teaching.load()
    give_back()  # what loading the models and fitting the regions left behind
    return pipeline


async def close_pipeline(pipeline: Pipeline) -> None:
    await pipeline.drain()
    await pipeline.classifier.aclose()
    await pipeline.db.close()


def printed(text: str) -> Callable[[], Awaitable[None]]:
    """The console's way to send an answer: print it."""

    async def send() -> None:
        print(text)

    return send


async def console(config: Config, photos: list[Path]) -> int:
    """Print exactly what the bot would answer for each photo, without any chat token."""
    pipeline = await open_pipeline(config)
    failed = 0
    try:
        for path in photos:
            print(f"== {path}")
            try:
                answer = await pipeline.answer(path.read_bytes(), "console", "console", "console")
            except (OSError, ImageRejected) as error:
                print(str(error))
                failed += 1
                continue
            note = "\n".join(count_lines(answer.tags)) if answer.show_counts else tier_summary(answer.tags.tags)
            await pipeline.deliver([answer], printed(f"📷 {subject_line(answer.scene)}\n{answer.tags.line}\n{note}"))
    finally:
        await close_pipeline(pipeline)
    return 1 if failed else 0


async def check(config: Config) -> int:
    """Health check for systemd/Docker: model classifies, database writable, tokens accepted, adapters receiving,
    Instagram state. Exit 0 when healthy."""
    problems = []
    learning = "off (the model did not load)"
    try:
        classifier = Classifier(config.model_dir, confidence=config.confidence)
        gradient = np.linspace(0, 255, MODEL_SIZE * MODEL_SIZE * 3).reshape(1, MODEL_SIZE, MODEL_SIZE, 3)
        custom, imagenet, _ = classifier.run(gradient.astype(np.uint8))
        if not (abs(float(custom.sum()) - 1) < 1e-3 and abs(float(imagenet.sum()) - 1) < 1e-3):
            problems.append("model: outputs are not probabilities")
        print(f"model: ok ({classifier.version}, classes: {', '.join(classifier.classes)})")
        if classifier.regions:
            print(f"open set: on (radius {classifier.regions.radius:.2f}: a class claims only photos inside it)")
            learning = "on"
        else:
            print(
                f"open set: off (no {REGIONS_FILE} in MODEL_DIR: classes claim photos by softmax, as before; "
                "python -m inference.class_stats --data <training photos> adds it)"
            )
            learning = f"off (needs {STATS_FILE} and {REGIONS_FILE} in MODEL_DIR)"
        print(f"people: {'on' if classifier.people else 'off'}")
    except (OSError, ValueError, KeyError) as error:
        problems.append(f"model: {error}")
    try:
        db = await open_database(config.database)
        try:
            async with db.transaction():  # takes the write lock (SQLite) or a connection (PostgreSQL)
                pass
            health = await trend_store.health(db)
            taught_labels = await taught.labels(db, await taught.scopes(db))
            adapters = await adapter_state.states(db)
            dropped = await request_log.dropped_rows(db)
        finally:
            await db.close()
        print(f"database: ok ({db.where}, writable)")
        print(f"teaching: {learning}; {len(taught_labels)} taught label(s)")
        if dropped:
            print(f"request log: {dropped} row(s) lost to a full disk (see the bot's log for when)")
        for adapter in adapters:
            if adapter.current and not adapter.receiving:
                problems.append(adapter_line(adapter))
            else:
                print(adapter_line(adapter))
        if not config.instagram_session_file:
            print("instagram: no session configured (catalogue only)")
        elif not config.instagram_session_file.is_file():
            problems.append(f"instagram: session file {config.instagram_session_file} does not exist")
        else:
            state = (
                "paused until " + time.strftime("%F %T", time.localtime(health.pause_until)) if health.paused else "ok"
            )
            print(f"instagram: {state}; failures in a row {health.failures}; last error {health.last_error or '-'}")
    except (OSError, DatabaseError, SchemaTooNew, DatabaseUnavailable) as error:
        problems.append(f"database: {error}")
    for line, well in await token_lines(config):
        if well:
            print(line)
        else:
            problems.append(line)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


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


async def keep_alive(pipeline: Pipeline) -> None:
    """Renew this process's lease (`storage.processes`) while it runs; a database hiccup only skips a beat."""
    while True:
        await asyncio.sleep(BEAT_SECONDS)
        try:
            await processes.beat(pipeline.db, pipeline.process)
        except DatabaseError as error:
            log.warning("could not renew this process's lease in the database (%s)", error)


class Adapter(Protocol):
    """A platform as the runner drives it: every adapter starts and stops the same way.

    `running` is a task that ends if the adapter stops receiving on its own (None when nothing
    can stop it but the runner); `chat` adapters are the ones the process exists for.
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


# Exit status when every chat adapter has stopped for good: systemd's Restart=on-failure starts the bot again.
ADAPTERS_DOWN = 3
# A chat adapter that stopped while another still serves is started again after ADAPTER_RETRY_SECONDS,
# the wait doubling up to this (seconds).
ADAPTER_RETRY_LONGEST = 900.0


async def serve(config: Config) -> int:
    """Run every configured adapter until SIGINT/SIGTERM, then finish in-flight work and close.

    All adapters share one classifier, one database handle and one trend refresher. An adapter
    that stops (a rejected token, an API that never answers) says why in one line and in the
    database, for `--check`; the others keep serving, and it is started again on a slow back-off
    when that can help (not after a rejected token). When no chat adapter is left the process
    exits with status 3.
    """
    from bot.discord.adapter import DiscordAdapter
    from bot.telegram.adapter import TelegramAdapter
    from bot.web.adapter import WebAdapter

    pipeline = await open_pipeline(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await processes.beat(pipeline.db, pipeline.process)
    log.info("process %s serving", pipeline.process)
    background: list[asyncio.Task] = [
        asyncio.create_task(keep_tidy(config, pipeline), name="retention"),
        asyncio.create_task(keep_alive(pipeline), name="lease"),
        asyncio.create_task(pipeline.teaching.follow(config.taught_sync), name="taught-labels"),
    ]
    if config.instagram_session_file:
        client = InstagramClient(config.instagram_session_file, config.instagram_username or None)
        refresher = TrendRefresher(pipeline.db, client, pipeline.catalogue, config.refresh)
        background.append(asyncio.create_task(refresher.run_forever(), name="trend-refresher"))
    else:
        log.info("no INSTAGRAM_SESSION_FILE: hashtags come from the curated catalogue only")
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
    adapters = {name: make() for name, make in makers.items()}
    chats = [name for name, adapter in adapters.items() if adapter.chat]
    up: dict[str, Adapter] = {}
    retries: dict[asyncio.Task, str] = {}
    delays = dict.fromkeys(adapters, config.adapter_retry)

    async def start(adapter: Adapter) -> None:
        try:
            await adapter.start()
        except Exception as error:  # noqa: BLE001 - any failed start is a stopped adapter, reported like one
            await down(adapter, error)
            return
        up[adapter.name] = adapter
        delays[adapter.name] = config.adapter_retry
        if adapter.chat:
            await adapter_state.set_state(pipeline.db, pipeline.process, adapter.name, True, "receiving")

    async def down(adapter: Adapter, error: BaseException) -> None:
        reason = adapter.describe(error)
        up.pop(adapter.name, None)
        if adapter.chat and adapter.retryable(error):
            delay = delays[adapter.name]
            delays[adapter.name] = min(2 * delay, ADAPTER_RETRY_LONGEST)
            retries[asyncio.create_task(asyncio.sleep(delay))] = adapter.name
            reason += f"; trying again in {delay:.0f} s"
        log.error("%s is not receiving: %s", adapter.name, reason)
        await adapter_state.set_state(pipeline.db, pipeline.process, adapter.name, False, reason)

    status = 0
    try:
        # Together: one platform slow to answer at start does not hold up the others.
        await asyncio.gather(*(start(adapter) for adapter in adapters.values()))
        stopped = asyncio.create_task(stop.wait())
        while True:
            if not up or (chats and not any(name in up for name in chats)):
                log.error("nothing is receiving: stopping with status %d", ADAPTERS_DOWN)
                status = ADAPTERS_DOWN
                break
            watched = {a.running: a for a in up.values() if a.running}
            done, _ = await asyncio.wait(
                [stopped, *background, *watched, *retries], return_when=asyncio.FIRST_COMPLETED
            )
            if stopped in done:
                log.info("shutting down")
                break
            for task in done:
                if task in watched:
                    await down(watched[task], task.exception() or RuntimeError("stopped"))
                elif task in retries:
                    name = retries.pop(task)
                    await adapters[name].stop()
                    adapters[name] = makers[name]()
                    await start(adapters[name])
                elif task.exception():
                    raise task.exception()
    finally:
        for task in retries:
            task.cancel()
        for adapter in adapters.values():
            await adapter.stop()
            if adapter.name in up and adapter.chat:
                await adapter_state.set_state(
                    pipeline.db, pipeline.process, adapter.name, False, "stopped with the bot"
                )
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        with contextlib.suppress(DatabaseError):
            await processes.leave(pipeline.db, pipeline.process)
        await close_pipeline(pipeline)
        log.info("stopped")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--console", nargs="+", type=Path, metavar="PHOTO", help="print the answer for photos")
    mode.add_argument("--check", action="store_true", help="health check: config, model, database, Instagram")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    setup_logging(config)
    try:
        if args.console:
            return asyncio.run(console(config, args.console))
        if args.check:
            return asyncio.run(check(config))
        if not config.telegram_token and not config.discord_token:
            log.info("no chat token configured (TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN): serving the web page only")
        return asyncio.run(serve(config))
    except (SchemaTooNew, DatabaseUnavailable) as error:
        print(f"database error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
