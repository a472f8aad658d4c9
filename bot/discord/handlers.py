"""What the Discord commands share: deferring within Discord's 3 seconds, the durable inbox, downloads, replies.

A deferred `/hashtags` is recorded until answered (`bot.discord.inbox`), so one
a crash interrupted is answered after the restart, or by another process
(`DiscordHandlers.start_adopting`). The commands themselves are
`bot.discord.commands`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord import app_commands

from bot.chat_inbox import ADOPT_SECONDS
from bot.config import Config
from bot.discord import PLATFORM
from bot.discord.inbox import DiscordInbox, PendingCommand
from bot.discord.render import answer_markdown, fit
from bot.pipeline import Pipeline
from bot.render import APOLOGY, too_big
from bot.retrying import repeat
from bot.teaching import GLOBAL
from inference.decode import ImageRejected, might_be_image

log = logging.getLogger(__name__)
MAX_IMAGES_PER_MESSAGE = 4
LEARN_ATTACHMENTS = 10
RESTARTING = "I'm restarting and could not finish this one: please try again in a minute."
# Waits before fetching an attachment again after a 5xx or a reset, in seconds.
CDN_RETRY_DELAYS = (0.5, 2.0)
DISCORD_LEARN_EXAMPLE = "/learn label: blue ceramic mug tags: mug ceramics"


def is_image(attachment: discord.Attachment) -> bool:
    return might_be_image(attachment.content_type)


class Reply:
    """Where a deferred command's answer goes: its interaction's followup webhook.

    Discord shows the first followup after a defer with the defer's visibility, whatever its
    flags: a refusal after a public defer would be shown to the whole channel. So the public
    "thinking…" message is deleted first (where the interaction is at hand to do it), and the
    private followup becomes a message of its own. No message of the bot's ever pings.
    """

    def __init__(
        self,
        webhook: discord.Webhook,
        public_defer: bool,
        delete_original: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.webhook, self.public_defer, self.delete_original = webhook, public_defer, delete_original

    async def send(self, text: str, ephemeral: bool) -> None:
        if ephemeral and self.public_defer and self.delete_original:
            with contextlib.suppress(discord.HTTPException):
                await self.delete_original()
            self.public_defer = False
        await self.webhook.send(text, ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none())
        self.public_defer = False  # the "thinking…" message is now this one


class DiscordHandlers:
    """What the commands share: the inbox, the commands in flight, the downloads, the replies and refusals."""

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config, self.pipeline = config, pipeline
        self.in_flight: dict[asyncio.Task, discord.Interaction] = {}
        self._adopted: set[asyncio.Task] = set()
        self._adopting: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None  # attachments, and webhooks of what dead processes left

    @functools.cached_property
    def inbox(self) -> DiscordInbox:
        """Made when first used: syncing the commands (deploy/discord_sync.py) builds them with no pipeline."""
        return DiscordInbox(self.pipeline.db, self.pipeline.process)

    def track(self, interaction: discord.Interaction) -> None:
        """Remember the running command, so shutdown can let it finish its reply."""
        task = asyncio.current_task()
        if task is not None:
            self.in_flight[task] = interaction
            task.add_done_callback(lambda done: self.in_flight.pop(done, None))

    async def finish(self, timeout: float = 20.0) -> None:
        """Wait (bounded) for commands already being answered; called before the client closes.

        Commands still running after `timeout` are stopped (the pipeline logs them `cancelled`) and
        told to try again, rather than left to Discord's "did not respond". Commands taken over from a
        dead process that are still running stay in the inbox for the next process to answer.
        """
        tasks = [*self.in_flight, *self._adopted]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in [task for task in self.in_flight if not task.done()]:
            interaction = self.in_flight[task]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            with contextlib.suppress(discord.HTTPException):
                await self.refuse(interaction, RESTARTING)

    async def close(self) -> None:
        """Stop taking over and let go of the connections; commands taken over and still running stay in
        the inbox for the next process."""
        if self._adopting:
            self._adopting.cancel()
        for task in list(self._adopted):
            task.cancel()
        await asyncio.gather(*self._adopted, *filter(None, [self._adopting]), return_exceptions=True)
        if self._session:
            await self._session.close()

    def start_adopting(self, application_id: int) -> None:
        """Answer, now and every few seconds, what dead processes deferred and never answered."""
        if self._adopting is None:
            adopt = repeat(
                functools.partial(self._adopt, application_id),
                ADOPT_SECONDS,
                "could not look for Discord commands left by stopped processes",
                wait_first=False,
            )
            self._adopting = asyncio.create_task(adopt, name="discord-adopt")

    async def _adopt(self, application_id: int) -> None:
        commands = await self.inbox.unanswered(application_id)
        if commands:
            log.warning("answering %d Discord command(s) a stopped process never answered", len(commands))
        for command in commands:
            task = asyncio.create_task(self._answer_adopted(command), name=f"discord-{command.interaction_id}")
            self._adopted.add(task)
            task.add_done_callback(self._adopted.discard)

    def scope(self, interaction: discord.Interaction) -> str:
        """Settings live per server; in DMs, per channel."""
        return str(interaction.guild_id or interaction.channel_id)

    @staticmethod
    def taught_scope(interaction: discord.Interaction) -> str:
        """Classes taught in a server apply in that server; DMs see the bot admins' global ones."""
        return f"discord:{interaction.guild_id}" if interaction.guild_id else GLOBAL

    @staticmethod
    async def defer(interaction: discord.Interaction, ephemeral: bool) -> Reply:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        reply = Reply(interaction.followup, not ephemeral, interaction.delete_original_response)
        interaction.extras["reply"] = reply
        return reply

    @staticmethod
    async def follow_up(interaction: discord.Interaction, text: str, ephemeral: bool) -> None:
        """Send a followup that is as private as asked (`Reply`)."""
        reply = interaction.extras.get("reply") or Reply(interaction.followup, False)
        await reply.send(text, ephemeral)

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await self.follow_up(interaction, text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    def check(self, attachment: discord.Attachment) -> str | None:
        name = discord.utils.escape_markdown(attachment.filename)
        if not is_image(attachment):
            return f"“{name}” is not an image. Please attach a photo (JPEG, PNG or WebP)."
        if refusal := too_big(attachment.size, self.config.max_file_bytes):
            return f"“{name}”: {refusal}"
        return None

    def download(self, attachment: dict) -> Callable[[], Awaitable[bytes]]:
        """The attachment's bytes from Discord's CDN, retried while the failure may pass (5xx, a reset)."""

        async def read() -> bytes:
            async with self._cdn_session().get(attachment["url"]) as response:
                response.raise_for_status()
                return await response.read()

        async def download() -> bytes:
            delays = iter(CDN_RETRY_DELAYS)
            while True:
                try:
                    return await read()
                except (discord.HTTPException, aiohttp.ClientError) as error:
                    status = getattr(error, "status", None)
                    delay = next(delays, None)
                    if delay is None or status in (403, 404):
                        why = f"Discord answered {status}" if status else "the connection failed"
                        raise ImageRejected(
                            "download_failed",
                            f"I could not fetch “{discord.utils.escape_markdown(attachment['filename'])}” from Discord "
                            f"({why}). Please attach it again.",
                        ) from None
                    await asyncio.sleep(delay)

        return download

    async def answer_images(
        self, interaction: discord.Interaction, images: list[discord.Attachment], count: int | None, private: bool
    ) -> None:
        """One answer for the images of one post (an Instagram carousel takes one set of tags).

        Images that cannot be used are named with the reason; only when none can is the answer a refusal.
        """
        notes = []
        if len(images) > MAX_IMAGES_PER_MESSAGE:
            notes.append(
                f"I answer for the first {MAX_IMAGES_PER_MESSAGE} images; {len(images) - MAX_IMAGES_PER_MESSAGE} "
                "more skipped."
            )
            images = images[:MAX_IMAGES_PER_MESSAGE]
        problems = [self.check(image) for image in images]
        usable = [image for image, problem in zip(images, problems, strict=True) if problem is None]
        notes[:0] = [problem for problem in problems if problem]
        if not usable:
            await self.refuse(interaction, "\n".join(notes))
            return
        reply = await self.defer(interaction, ephemeral=private)
        command = PendingCommand(
            interaction.id,
            interaction.application_id,
            interaction.token,
            [image.to_dict() for image in usable],
            count,
            private,
            self.scope(interaction),
            str(interaction.user.id),
            self.taught_scope(interaction),
            notes,
        )
        await self.inbox.record(command)
        await self._finish(command, reply)

    async def _answer_adopted(self, command: PendingCommand) -> None:
        """A command a dead process deferred: answered through its webhook, from its token alone."""
        webhook = discord.Webhook.partial(command.application_id, command.token, session=self._cdn_session())
        try:
            await self._finish(command, Reply(webhook, public_defer=not command.private))
        except discord.HTTPException as error:  # its token expired, most likely: nobody is waiting any more
            log.warning(
                "could not answer Discord command %d left by a stopped process: %s",
                command.interaction_id,
                error,
            )
            await self.inbox.answered(command)

    def _cdn_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _finish(self, command: PendingCommand, reply: Reply) -> None:
        """Fetch, answer and send a deferred command; then it is answered, in the inbox too."""
        try:
            answer = await self.pipeline.answer(
                [self.download(attachment) for attachment in command.attachments],
                PLATFORM,
                command.scope,
                command.user,
                tag_count=command.count,
                taught_scope=command.taught_scope,
            )
        except ImageRejected as error:
            others = ["The other images could not be used either."] if len(command.attachments) > 1 else []
            first = f"“{discord.utils.escape_markdown(command.filenames[0])}”: {error.message}"
            await reply.send("\n".join([first, *others, *command.notes]), ephemeral=True)
            await self.inbox.answered(command)
            return
        names = command.filenames if len(command.filenames) > 1 else None  # answer_markdown escapes them
        parts = fit([answer_markdown(answer, names), *command.notes])

        async def send() -> None:
            for text in parts:
                await reply.send(text, ephemeral=command.private)

        await self.pipeline.deliver([answer], send)
        await self.inbox.answered(command)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("discord command failed: %s", error, exc_info=error)
        try:
            await self.refuse(interaction, APOLOGY)
        except discord.HTTPException:
            log.warning("could not tell the user about the error")
