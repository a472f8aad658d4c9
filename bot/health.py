"""`python -m bot --check`: is this installation healthy? For systemd (before the bot starts) and Docker.

The model classifies, the database is writable, each chat platform accepts
the bot's token (asked the way the adapters ask), the adapters are receiving,
and Instagram's state. A rejected token is the commonest reason a new
installation stays silent: this says so before the bot runs rather than after.
"""

from __future__ import annotations

import sys
import time

import aiohttp
import numpy as np
from telegram import Bot
from telegram.error import InvalidToken, NetworkError

from bot.config import Config
from bot.render import adapter_line
from bot.telegram.adapter import TelegramAdapter
from bot.telegram.http import AiohttpTransport
from inference.classifier import Classifier
from inference.decode import MODEL_SIZE
from inference.model_folder import REGIONS_FILE, STATS_FILE
from storage import adapter_state, request_log, taught, trend_store
from storage.database import open_database
from storage.errors import DatabaseError, DatabaseUnavailable, SchemaTooNew

TIMEOUT_SECONDS = 10


async def telegram_token(config: Config) -> tuple[str, bool]:
    """getMe through python-telegram-bot, as the adapter starts; the line to print and whether all is well."""
    transport = AiohttpTransport(pool_size=1)
    bot = Bot(
        config.telegram_token,
        base_url=config.telegram_api_base_url,
        base_file_url=config.telegram_file_base_url,
        request=transport,
        get_updates_request=transport,
    )
    try:
        async with bot:
            return f"telegram: token accepted (@{bot.username})", True
    except InvalidToken as error:
        return f"telegram: {TelegramAdapter.describe(error)}", False
    except NetworkError as error:  # the message may hold the URL, and so the token: the type only
        return f"telegram: cannot reach TELEGRAM_API_BASE_URL ({type(error).__name__})", False


async def discord_token(config: Config) -> tuple[str, bool]:
    """GET /users/@me, the call discord.py logs in with."""
    url = config.discord_api_base_url.rstrip("/") + "/users/@me"
    headers = {"Authorization": f"Bot {config.discord_token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 401:
                return "discord: DISCORD_BOT_TOKEN was rejected by Discord (401)", False
            if response.status != 200:
                return f"discord: DISCORD_API_BASE_URL answered {response.status}", False
            return f"discord: token accepted ({(await response.json())['username']})", True
    except (aiohttp.ClientError, TimeoutError) as error:
        return f"discord: cannot reach DISCORD_API_BASE_URL ({type(error).__name__})", False


async def token_lines(config: Config) -> list[tuple[str, bool]]:
    """One line for each configured platform."""
    lines = []
    if config.telegram_token:
        lines.append(await telegram_token(config))
    if config.discord_token:
        lines.append(await discord_token(config))
    return lines


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
