"""The Discord commands: `/hashtags image:<file>`, "Get hashtags" on any message with images, settings, teaching.

Each command is defined once, with the help text users see; what they share
(the inbox, the downloads, the replies) is `DiscordHandlers`, reached from
the interaction's client. Commands validate, defer within Discord's 3-second
deadline, call the shared `Pipeline`, and follow up. A deferred `/hashtags`
is recorded until answered (`bot.discord.inbox`), so one a crash interrupted
is answered after the restart, or by another process. Syncing the commands
with Discord is `deploy/discord_sync.py`'s job, never done at start.
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
from bot.discord.inbox import DiscordInbox, PendingCommand
from bot.discord.render import MESSAGE_LIMIT, answer_markdown, fit, out_of_range
from bot.pipeline import Pipeline
from bot.render import APOLOGY, MAX_TAG_COUNT, TAG_COUNTS, forgot_text, photo_count, settings_text, too_big
from bot.retrying import repeat
from bot.teaching import GLOBAL, TeachingError, learn_command
from inference.decode import ImageRejected, might_be_image
from inference.few_shot import MIN_EXAMPLES

log = logging.getLogger(__name__)
PLATFORM = "discord"
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


def handlers_of(interaction: discord.Interaction) -> DiscordHandlers:
    """The shared state of the client the interaction came to (`bot.discord.client.HashtagClient`)."""
    return interaction.client.handlers


@app_commands.command(
    name="hashtags", description="Instagram hashtags that fit a photo, or one set for a post's photos"
)
@app_commands.describe(
    image="The photo to tag",
    count=f"How many hashtags ({TAG_COUNTS}); default from the server's settings",
    private="Only you see the answer",
    **{f"image{i}": "Another photo of the same post" for i in range(2, MAX_IMAGES_PER_MESSAGE + 1)},
)
async def hashtags(
    interaction: discord.Interaction,
    image: discord.Attachment,
    count: app_commands.Range[int, 1, MAX_TAG_COUNT] | None = None,
    private: bool = False,
    image2: discord.Attachment | None = None,
    image3: discord.Attachment | None = None,
    image4: discord.Attachment | None = None,
) -> None:
    handlers = handlers_of(interaction)
    handlers.track(interaction)
    if problem := out_of_range("count", count):
        await handlers.refuse(interaction, problem)
        return
    images = [i for i in (image, image2, image3, image4) if i is not None]
    await handlers.answer_images(interaction, images, count, private)


@app_commands.context_menu(name="Get hashtags")
async def message_hashtags(interaction: discord.Interaction, message: discord.Message) -> None:
    handlers = handlers_of(interaction)
    handlers.track(interaction)
    images = [a for a in message.attachments if is_image(a)]
    if not images:
        await handlers.refuse(interaction, "That message has no image attachments.")
        return
    await handlers.answer_images(interaction, images, None, private=True)


@app_commands.command(
    name="hashtags-settings", description="Default number of hashtags and post counts for this server"
)
@app_commands.describe(count=f"Hashtags per photo ({TAG_COUNTS})", counts="Show post counts and tiers")
@app_commands.default_permissions(manage_guild=True)
async def hashtags_settings(
    interaction: discord.Interaction,
    count: app_commands.Range[int, 1, MAX_TAG_COUNT] | None = None,
    counts: bool | None = None,
) -> None:
    handlers = handlers_of(interaction)
    if interaction.guild_id and not interaction.permissions.manage_guild:
        await handlers.refuse(interaction, "You need the Manage Server permission to change these settings.")
        return
    problem = out_of_range("count", count)
    if problem:
        await handlers.refuse(interaction, problem)
        return
    current = await handlers.pipeline.chat_settings(PLATFORM, handlers.scope(interaction), count, counts)
    await interaction.response.send_message(settings_text(current, handlers.config.default_tag_count), ephemeral=True)


@app_commands.command(name="learn", description="Teach me a label for this server from a few photos (5–30 in all)")
@app_commands.describe(
    label="The label, e.g. blue ceramic mug",
    tags="Its own hashtags, e.g. mug ceramics (with or without #)",
    **{f"photo{i}": "A photo of it" for i in range(1, LEARN_ATTACHMENTS + 1)},
)
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
async def learn(
    interaction: discord.Interaction,
    label: app_commands.Range[str, 1, 40],
    photo1: discord.Attachment,
    tags: str | None = None,
    photo2: discord.Attachment | None = None,
    photo3: discord.Attachment | None = None,
    photo4: discord.Attachment | None = None,
    photo5: discord.Attachment | None = None,
    photo6: discord.Attachment | None = None,
    photo7: discord.Attachment | None = None,
    photo8: discord.Attachment | None = None,
    photo9: discord.Attachment | None = None,
    photo10: discord.Attachment | None = None,
) -> None:
    """Add the attached photos to a label of this server (repeatable, up to 10 photos a time)."""
    handlers = handlers_of(interaction)
    handlers.track(interaction)
    if not interaction.guild_id or not interaction.permissions.manage_guild:
        await handlers.refuse(interaction, "Teaching labels needs the Manage Server permission, in a server.")
        return
    photos = [p for p in (photo1, photo2, photo3, photo4, photo5, photo6, photo7, photo8, photo9, photo10) if p]
    teaching, scope, user = handlers.pipeline.teaching, handlers.taught_scope(interaction), str(interaction.user.id)
    try:
        command = learn_command(label, (tags or "").replace(",", " ").split(), DISCORD_LEARN_EXAMPLE)
        warnings = await teaching.start(scope, command, user)
    except TeachingError as error:
        await handlers.refuse(interaction, str(error))
        return
    await handlers.defer(interaction, ephemeral=True)
    lines = []
    for photo in photos:
        problem = handlers.check(photo)
        if problem:
            lines.append(f"Not added: {problem}")
            continue
        try:
            await teaching.add(scope, command.name, await handlers.download(photo.to_dict())(), user, refit=False)
        except ImageRejected as error:
            lines.append(f"Not added: “{discord.utils.escape_markdown(photo.filename)}”: {error.message}")
        except TeachingError as error:
            lines.append(str(error))
            break
    await teaching.refit(scope)
    count, advice = await teaching.review(scope, command.name)
    lines.insert(0, f"“{discord.utils.escape_markdown(command.name)}” has {photo_count(count)}.")
    if count >= MIN_EXAMPLES:
        lines.append("I recognise it in this server from now on. Run /learn again to add more photos.")
    await handlers.follow_up(interaction, "\n".join(lines + warnings + advice)[:MESSAGE_LIMIT], ephemeral=True)


@app_commands.command(name="forget", description="Forget a label taught in this server")
@app_commands.describe(label="The taught label, as /labels lists it")
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
async def forget(interaction: discord.Interaction, label: str) -> None:
    handlers = handlers_of(interaction)
    if not interaction.guild_id or not interaction.permissions.manage_guild:
        await handlers.refuse(interaction, "Forgetting labels needs the Manage Server permission, in a server.")
        return
    name = label.strip().lower()
    try:
        forgotten = await handlers.pipeline.teaching.forget(handlers.taught_scope(interaction), name)
    except TeachingError as error:
        await handlers.refuse(interaction, str(error))
        return
    text = forgot_text(discord.utils.escape_markdown(name), forgotten, " in this server")
    await interaction.response.send_message(text, ephemeral=True)


@app_commands.command(name="labels", description="What I recognise here, taught labels included")
async def labels(interaction: discord.Interaction) -> None:
    handlers = handlers_of(interaction)
    described = await handlers.pipeline.teaching.describe(handlers.taught_scope(interaction))
    await interaction.response.send_message(discord.utils.escape_markdown(described)[:MESSAGE_LIMIT], ephemeral=True)


COMMANDS = (hashtags, message_hashtags, hashtags_settings, learn, forget, labels)


def add_commands(tree: app_commands.CommandTree, handlers: DiscordHandlers) -> None:
    """Every command on `tree`, its errors answered by `handlers`."""
    for command in COMMANDS:
        tree.add_command(command)
    tree.on_error = handlers.on_error
