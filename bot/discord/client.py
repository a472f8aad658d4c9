"""The Discord client: no intents, no pings, its command tree; sharded when asked."""

from __future__ import annotations

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.config import Config
from bot.discord.commands import add_commands
from bot.discord.handlers import DiscordHandlers
from bot.pipeline import Pipeline

# discord.py waits this long after READY for GUILD_CREATE events before `ready` (its default: 2 s). With no
# intents Discord sends none, so the wait only delayed every connect and reconnect.
GUILD_READY_WAIT = 0.0


class HashtagClient(discord.Client):
    """The Discord client with its command tree (`tree`) and the commands' shared state (`handlers`)."""

    def __init__(self, config: Config, pipeline: Pipeline, **options: object) -> None:
        # No message of the bot's ever pings: file names and labels are user text.
        super().__init__(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=GUILD_READY_WAIT,
            **options,
        )
        self.tree = app_commands.CommandTree(self)
        self.handlers = DiscordHandlers(config, pipeline)
        add_commands(self.tree, self.handlers)

    async def setup_hook(self) -> None:
        """Logged in (the application id is known), not yet connected: take over what dead processes left
        (unless only syncing commands, with no pipeline)."""
        if self.handlers.pipeline is not None:
            self.handlers.start_adopting(self.application_id)

    async def close(self) -> None:
        await super().close()
        await self.handlers.close()


class ShardedHashtagClient(HashtagClient, discord.AutoShardedClient):
    """The same, sharded: for bots in very many servers (DISCORD_SHARDED), or split across processes."""


def build_client(config: Config, pipeline: Pipeline) -> HashtagClient:
    """The Discord client: sharded when DISCORD_SHARDED is on or DISCORD_SHARD_COUNT is set.

    With DISCORD_SHARD_COUNT=N and DISCORD_SHARD_IDS, this process connects only those of the
    N shards, and Discord sends it only their servers' commands: each process serves its share.
    """
    # discord.py keeps the REST base URL and the fallback gateway on classes: one client per process, so
    # this is safe. The gateway is used as given by the plain client and by a sharded one told its shard count.
    discord.http.Route.BASE = config.discord_api_base_url.rstrip("/")
    if config.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.discord_gateway_url)
    if not (config.discord_sharded or config.discord_shard_count):
        return HashtagClient(config, pipeline)
    return ShardedHashtagClient(
        config,
        pipeline,
        shard_count=config.discord_shard_count or None,
        shard_ids=sorted(config.discord_shard_ids) or None,
    )
