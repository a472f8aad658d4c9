"""Set, inspect or delete the Telegram webhook (for webhook mode; long polling needs none).

    .venv/bin/python -m deploy.telegram_webhook set      # uses TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET
    .venv/bin/python -m deploy.telegram_webhook info
    .venv/bin/python -m deploy.telegram_webhook delete   # back to long polling

The bot itself also registers the webhook when it starts in webhook mode;
this is for checking what Telegram has, and for switching back.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from telegram import Bot
from telegram.error import TelegramError

from bot.config import ConfigError, load_config


async def run(action: str) -> str:
    config = load_config()
    if not config.telegram_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (environment or .env)")
    async with Bot(config.telegram_token, base_url=config.telegram_api_base_url) as bot:
        if action == "set":
            if not config.webhook_url:
                raise ConfigError("TELEGRAM_WEBHOOK_URL is not set")
            url = f"{config.webhook_url.rstrip('/')}/telegram"
            await bot.set_webhook(url, secret_token=config.webhook_secret or None, drop_pending_updates=False)
            return f"webhook set to {url}"
        if action == "delete":
            await bot.delete_webhook()
            return "webhook deleted: the bot can use long polling"
        info = await bot.get_webhook_info()
        return (
            f"url: {info.url or '(none: long polling)'}\npending updates: {info.pending_update_count}\n"
            f"last error: {info.last_error_message or '-'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.telegram_webhook", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["set", "info", "delete"])
    args = parser.parse_args(argv)
    try:
        print(asyncio.run(run(args.action)))
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except TelegramError as error:
        print(f"Telegram refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
