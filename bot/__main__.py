"""Run the bot: `python -m bot` starts every chat adapter that has a token, in one process.

With no chat token (or WEB_ENABLED) it serves the try-it page, the JSON API and
the admins' dashboard on WEB_HOST:WEB_PORT, 127.0.0.1:8080 by default.

`python -m bot --console PHOTO...` prints what the bot would answer, with no token.

Configuration comes from the environment and `.env` (see `.env.example`).

Every mode runs on uvloop, asyncio's event loop written in C: under load the
loop (python-telegram-bot, aiohttp, composing) is what limits the bot
(docs/benchmarks.md, issue 23).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvloop

from bot.config import load_config_or_exit
from bot.console import console
from bot.health import check
from bot.logs import setup_logging
from bot.runner import serve
from storage.errors import DatabaseUnavailable, SchemaTooNew

log = logging.getLogger("bot")


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
            return uvloop.run(console(config, args.console))
        if args.check:
            return uvloop.run(check(config))
        if not config.telegram_token and not config.discord_token:
            log.info("no chat token configured (TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN): serving the web page only")
        return uvloop.run(serve(config))
    except (SchemaTooNew, DatabaseUnavailable) as error:
        print(f"database error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
