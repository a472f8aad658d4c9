"""Register the bot's Discord commands: to one server (instant, for development) or globally (release).

    .venv/bin/python -m deploy.discord_sync --guild 123456789012345678
    .venv/bin/python -m deploy.discord_sync --global
    .venv/bin/python -m deploy.discord_sync --guild 1234 --clear    # remove the server's copies

Discord keeps the registered commands, so this runs once per change of the
commands, never on every start. Reads DISCORD_BOT_TOKEN like the bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import discord

from bot.config import Config, load_config_or_exit
from bot.discord.client import build_client


async def sync(
    token: str, guild_id: int | None, clear: bool, api_base_url: str = Config.discord_api_base_url
) -> list[str]:
    """Replace the registered commands with this code's definitions; returns their names."""
    client = build_client(Config(discord_api_base_url=api_base_url), pipeline=None)  # no pipeline needed
    await client.login(token)
    try:
        guild = discord.Object(id=guild_id) if guild_id else None
        if clear:
            client.tree.clear_commands(guild=guild)
        elif guild:
            client.tree.copy_global_to(guild=guild)
        commands = await client.tree.sync(guild=guild)
    finally:
        await client.close()
    return [command.name for command in commands]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.discord_sync", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--guild", type=int, help="server id: commands appear there at once")
    where.add_argument("--global", dest="global_", action="store_true", help="every server (may take up to an hour)")
    parser.add_argument("--clear", action="store_true", help="remove the commands instead of registering them")
    args = parser.parse_args(argv)
    config = load_config_or_exit()
    if not config.discord_token:
        print("DISCORD_BOT_TOKEN is not set (environment or .env).", file=sys.stderr)
        return 2
    try:
        names = asyncio.run(sync(config.discord_token, args.guild, args.clear, config.discord_api_base_url))
    except discord.HTTPException as error:
        print(f"Discord refused: {error}", file=sys.stderr)
        return 1
    target = f"server {args.guild}" if args.guild else "all servers"
    print(f"{'cleared' if args.clear else 'synced'} {len(names)} command(s) for {target}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
