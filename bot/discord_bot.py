"""Discord adapter: `/hashtags image:<file>` and "Get hashtags" on any message with images.

Thin by design: commands validate, defer within Discord's 3-second deadline,
call the shared `Pipeline`, and follow up. Commands are described where they
are defined; syncing them with Discord is `deploy/discord_sync.py`'s job,
never done at start. The bot needs no privileged intents.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord
from discord import app_commands

from bot.config import Config
from bot.pipeline import Answer, Pipeline
from bot.render import count_lines, subject_line, tier_summary
from inference.decode import ImageRejected
from storage import settings
from trends.composer import MAX_TAG_COUNT

log = logging.getLogger(__name__)
PLATFORM = "discord"
MESSAGE_LIMIT = 2000
MAX_IMAGES_PER_MESSAGE = 4


def answer_markdown(answer: Answer) -> str:
    """Subject, the tags in a code block for exact copying, and a short note."""
    note = "\n".join(count_lines(answer.tags)) if answer.show_counts else tier_summary(answer.tags.tags)
    return (
        f"📷 **{discord.utils.escape_markdown(subject_line(answer.prediction))}**\n```\n{answer.tags.line}\n```{note}"
    )


def is_image(attachment: discord.Attachment) -> bool:
    return (attachment.content_type or "").startswith("image/")


class HashtagCommands:
    """The command callbacks and what they share."""

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config, self.pipeline = config, pipeline
        self.in_flight: set[asyncio.Task] = set()

    def _track(self) -> None:
        """Remember the running command, so shutdown can let it finish its reply."""
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def finish(self, timeout: float = 20.0) -> None:
        """Wait (bounded) for commands already being answered; called before the client closes."""
        if self.in_flight:
            await asyncio.wait(list(self.in_flight), timeout=timeout)

    def _scope(self, interaction: discord.Interaction) -> str:
        """Settings live per server; in DMs, per channel."""
        return str(interaction.guild_id or interaction.channel_id)

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    def _check(self, attachment: discord.Attachment) -> str | None:
        if not is_image(attachment):
            return f"“{attachment.filename}” is not an image. Please attach a photo (JPEG, PNG or WebP)."
        if attachment.size > self.config.max_file_bytes:
            return (
                f"“{attachment.filename}” is too big ({attachment.size / 1e6:.1f} MB; the limit is "
                f"{self.config.max_file_bytes / 1e6:.0f} MB)."
            )
        return None

    async def _answer(self, interaction: discord.Interaction, attachment: discord.Attachment, count: int | None):
        return await self.pipeline.answer(
            attachment.read, PLATFORM, self._scope(interaction), str(interaction.user.id), tag_count=count
        )

    async def hashtags(
        self, interaction: discord.Interaction, image: discord.Attachment, count: int | None, private: bool
    ) -> None:
        self._track()
        problem = self._check(image)
        if problem:
            await self._refuse(interaction, problem)
            return
        await interaction.response.defer(ephemeral=private, thinking=True)
        try:
            answer = await self._answer(interaction, image, count)
        except ImageRejected as error:
            await interaction.followup.send(error.message, ephemeral=True)
            return
        sent = time.perf_counter()
        await interaction.followup.send(answer_markdown(answer), ephemeral=private)
        self.pipeline.record(answer.record, (time.perf_counter() - sent) * 1000)

    async def message_hashtags(self, interaction: discord.Interaction, message: discord.Message) -> None:
        self._track()
        images = [a for a in message.attachments if is_image(a)][:MAX_IMAGES_PER_MESSAGE]
        if not images:
            await self._refuse(interaction, "That message has no image attachments.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        parts, records = [], []
        for attachment in images:
            problem = self._check(attachment)
            if problem:
                parts.append(problem)
                continue
            try:
                answer = await self._answer(interaction, attachment, None)
            except ImageRejected as error:
                parts.append(f"“{attachment.filename}”: {error.message}")
                continue
            parts.append(
                answer_markdown(answer)
                if len(images) == 1
                else f"**{attachment.filename}**\n" + answer_markdown(answer)
            )
            records.append(answer.record)
        text = "\n\n".join(parts)
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 1] + "…"
        sent = time.perf_counter()
        await interaction.followup.send(text, ephemeral=True)
        for record in records:
            self.pipeline.record(record, (time.perf_counter() - sent) * 1000)

    async def settings(self, interaction: discord.Interaction, count: int | None, counts: bool | None) -> None:
        if interaction.guild_id and not interaction.permissions.manage_guild:
            await self._refuse(interaction, "You need the Manage Server permission to change these settings.")
            return
        scope = self._scope(interaction)
        current = await settings.get_chat_settings(self.pipeline.db, PLATFORM, scope)
        if count is not None or counts is not None:
            current = settings.ChatSettings(
                count if count is not None else current.tag_count,
                counts if counts is not None else current.show_counts,
            )
            await settings.save_chat_settings(self.pipeline.db, PLATFORM, scope, current)
        await interaction.response.send_message(
            f"Tags per photo: {current.tag_count or self.config.default_tag_count}\n"
            f"Post counts: {'on' if current.show_counts else 'off'}",
            ephemeral=True,
        )

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("discord command failed: %s", error, exc_info=error)
        try:
            await self._refuse(interaction, "Sorry, something went wrong. Please try again.")
        except discord.HTTPException:
            log.warning("could not tell the user about the error")


def build_tree(tree: app_commands.CommandTree, handlers: HashtagCommands) -> None:
    """Define every command, with the help text users see, on `tree`."""

    @tree.command(name="hashtags", description="Get Instagram hashtags that fit a photo")
    @app_commands.describe(
        image="The photo to tag",
        count=f"How many hashtags (1–{MAX_TAG_COUNT}); default from the server's settings",
        private="Only you see the answer",
    )
    async def hashtags(
        interaction: discord.Interaction,
        image: discord.Attachment,
        count: app_commands.Range[int, 1, MAX_TAG_COUNT] | None = None,
        private: bool = False,
    ) -> None:
        await handlers.hashtags(interaction, image, count, private)

    @tree.context_menu(name="Get hashtags")
    async def message_hashtags(interaction: discord.Interaction, message: discord.Message) -> None:
        await handlers.message_hashtags(interaction, message)

    @tree.command(name="hashtags-settings", description="Default number of hashtags and post counts for this server")
    @app_commands.describe(count=f"Hashtags per photo (1–{MAX_TAG_COUNT})", counts="Show post counts and tiers")
    @app_commands.default_permissions(manage_guild=True)
    async def hashtags_settings(
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_TAG_COUNT] | None = None,
        counts: bool | None = None,
    ) -> None:
        await handlers.settings(interaction, count, counts)

    tree.on_error = handlers.on_error


def build_client(config: Config, pipeline: Pipeline) -> discord.Client:
    """The Discord client with its command tree; sharded when DISCORD_SHARDED is on."""
    # discord.py keeps the REST base URL on a class: one client per process, so this is safe.
    discord.http.Route.BASE = config.discord_api_base_url.rstrip("/")
    base = discord.AutoShardedClient if config.discord_sharded else discord.Client
    client = base(intents=discord.Intents.none())
    client.tree = app_commands.CommandTree(client)
    client.commands = HashtagCommands(config, pipeline)
    build_tree(client.tree, client.commands)
    return client
