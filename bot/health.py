"""Whether each chat platform accepts the bot's token, asked the way the adapters ask: for `--check`.

A rejected token is the commonest reason a new installation stays silent;
`--check` (run by systemd before the bot starts, and by Docker as its health
check) says so before the bot runs rather than after.
"""

from __future__ import annotations

import aiohttp
from telegram import Bot
from telegram.error import InvalidToken, NetworkError

from bot.config import Config
from bot.telegram.http import AiohttpTransport

TIMEOUT_SECONDS = 10


async def telegram_token(config: Config) -> tuple[str, bool]:
    """getMe through python-telegram-bot, as the adapter starts; the line to print and whether all is well."""
    from bot.telegram.adapter import TelegramAdapter

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
