"""Discord adapter: `/hashtags image:<file>` and "Get hashtags" on any message with images.

Commands validate, defer within Discord's 3-second deadline, call the shared
`Pipeline`, and follow up. A deferred `/hashtags` is recorded until answered
(`bot.discord.inbox`), so one a crash interrupted is answered after the
restart, or by another process. Commands are described where they are
defined; syncing them with Discord is `deploy/discord_sync.py`'s job, never
done at start. The bot needs no privileged intents.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.config import Config
from bot.discord.inbox import DiscordInbox, PendingCommand
from bot.pipeline import Answer, Pipeline
from bot.render import (
    APOLOGY,
    count_lines,
    forgot_text,
    photo_count,
    post_note,
    settings_text,
    subject_line,
    tier_summary,
    too_big_text,
)
from bot.teaching import GLOBAL, TeachingError, learn_command
from inference.decode import ImageRejected, might_be_image
from inference.few_shot import MIN_EXAMPLES
from storage.database import DatabaseError
from storage.processes import BEAT_SECONDS
from storage.settings import MAX_TAG_COUNT, ChatSettings

log = logging.getLogger(__name__)
PLATFORM = "discord"
MESSAGE_LIMIT = 2000
MAX_IMAGES_PER_MESSAGE = 4
LEARN_ATTACHMENTS = 10
RESTARTING = "I'm restarting and could not finish this one: please try again in a minute."
# Waits before fetching an attachment again after a 5xx or a reset, in seconds.
CDN_RETRY_DELAYS = (0.5, 2.0)
# discord.py waits this long after READY for GUILD_CREATE events before `ready` (its default: 2 s). With no
# intents Discord sends none, so the wait only delayed every connect and reconnect.
GUILD_READY_WAIT = 0.0
DISCORD_LEARN_EXAMPLE = "/learn label: blue ceramic mug tags: mug ceramics"


def answer_markdown(answer: Answer, names: list[str] | None = None) -> str:
    """Subject, the tags in a code block for exact copying, a short note, and what an answer for several covers."""
    note = "\n".join(count_lines(answer.tags)) if answer.show_counts else tier_summary(answer.tags.tags)
    covers = discord.utils.escape_markdown(post_note(answer, names))
    subject = discord.utils.escape_markdown(subject_line(answer.scene))
    return "\n".join(line for line in (f"📷 **{subject}**\n```\n{answer.tags.line}\n```", note, covers) if line)


def fit(parts: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts packed into as few messages as Discord takes, never one cut inside a code block.

    A part longer than a message keeps its first lines (the subject and the tags come first),
    with its code block closed.
    """
    messages: list[str] = []
    for part in parts:
        if len(part) > limit:
            part = part[: part.rfind("\n", 0, limit - 6)]
            part += "\n```" if part.count("```") % 2 else ""
        if messages and len(messages[-1]) + 2 + len(part) <= limit:
            messages[-1] += "\n\n" + part
        else:
            messages.append(part)
    return messages


def out_of_range(option: str, value: int | None) -> str | None:
    """Discord checks an option's range in its client, not what reaches the bot: say so rather than clamp."""
    if value is None or 1 <= value <= MAX_TAG_COUNT:
        return None
    return f"`{option}` must be from 1 to {MAX_TAG_COUNT} (got {value})."


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


class HashtagCommands:
    """The command callbacks and what they share."""

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

    def _track(self, interaction: discord.Interaction) -> None:
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
                await self._refuse(interaction, RESTARTING)

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
            self._adopting = asyncio.create_task(self._adopt_forever(application_id), name="discord-adopt")

    async def _adopt_forever(self, application_id: int) -> None:
        while True:
            try:
                commands = await self.inbox.unanswered(application_id)
            except DatabaseError as error:
                log.warning("could not look for Discord commands left by stopped processes (%s)", error)
                commands = []
            if commands:
                log.warning("answering %d Discord command(s) a stopped process never answered", len(commands))
            for command in commands:
                task = asyncio.create_task(self._answer_adopted(command), name=f"discord-{command.interaction_id}")
                self._adopted.add(task)
                task.add_done_callback(self._adopted.discard)
            await asyncio.sleep(BEAT_SECONDS)

    def _scope(self, interaction: discord.Interaction) -> str:
        """Settings live per server; in DMs, per channel."""
        return str(interaction.guild_id or interaction.channel_id)

    @staticmethod
    def _taught_scope(interaction: discord.Interaction) -> str:
        """Classes taught in a server apply in that server; DMs see the bot admins' global ones."""
        return f"discord:{interaction.guild_id}" if interaction.guild_id else GLOBAL

    @staticmethod
    async def _defer(interaction: discord.Interaction, ephemeral: bool) -> Reply:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        reply = Reply(interaction.followup, not ephemeral, interaction.delete_original_response)
        interaction.extras["reply"] = reply
        return reply

    @staticmethod
    async def _follow_up(interaction: discord.Interaction, text: str, ephemeral: bool) -> None:
        """Send a followup that is as private as asked (`Reply`)."""
        reply = interaction.extras.get("reply") or Reply(interaction.followup, False)
        await reply.send(text, ephemeral)

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await self._follow_up(interaction, text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    def _check(self, attachment: discord.Attachment) -> str | None:
        name = discord.utils.escape_markdown(attachment.filename)
        if not is_image(attachment):
            return f"“{name}” is not an image. Please attach a photo (JPEG, PNG or WebP)."
        if attachment.size > self.config.max_file_bytes:
            return f"“{name}”: " + too_big_text(attachment.size, self.config.max_file_bytes)
        return None

    def _download(self, attachment: dict) -> Callable[[], Awaitable[bytes]]:
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

    async def hashtags(
        self, interaction: discord.Interaction, images: list[discord.Attachment], count: int | None, private: bool
    ) -> None:
        self._track(interaction)
        if problem := out_of_range("count", count):
            await self._refuse(interaction, problem)
            return
        await self._answer_images(interaction, images, count, private)

    async def message_hashtags(self, interaction: discord.Interaction, message: discord.Message) -> None:
        self._track(interaction)
        images = [a for a in message.attachments if is_image(a)]
        if not images:
            await self._refuse(interaction, "That message has no image attachments.")
            return
        await self._answer_images(interaction, images, None, private=True)

    async def _answer_images(
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
        problems = [self._check(image) for image in images]
        usable = [image for image, problem in zip(images, problems, strict=True) if problem is None]
        notes[:0] = [problem for problem in problems if problem]
        if not usable:
            await self._refuse(interaction, "\n".join(notes))
            return
        reply = await self._defer(interaction, ephemeral=private)
        command = PendingCommand(
            interaction.id,
            interaction.application_id,
            interaction.token,
            [image.to_dict() for image in usable],
            count,
            private,
            self._scope(interaction),
            str(interaction.user.id),
            self._taught_scope(interaction),
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
                [self._download(attachment) for attachment in command.attachments],
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

    async def settings(self, interaction: discord.Interaction, count: int | None, counts: bool | None) -> None:
        if interaction.guild_id and not interaction.permissions.manage_guild:
            await self._refuse(interaction, "You need the Manage Server permission to change these settings.")
            return
        problem = out_of_range("count", count)
        if problem:
            await self._refuse(interaction, problem)
            return
        scope = self._scope(interaction)
        current = await self.pipeline.chat_settings(PLATFORM, scope)
        if count is not None or counts is not None:
            current = ChatSettings(
                count if count is not None else current.tag_count,
                counts if counts is not None else current.show_counts,
            )
            await self.pipeline.save_chat_settings(PLATFORM, scope, current)
        await interaction.response.send_message(settings_text(current, self.config.default_tag_count), ephemeral=True)

    async def learn(
        self, interaction: discord.Interaction, label: str, tags: str | None, photos: list[discord.Attachment]
    ) -> None:
        """/learn: add the attached photos to a label of this server (repeatable, up to 10 photos a time)."""
        self._track(interaction)
        if not interaction.guild_id or not interaction.permissions.manage_guild:
            await self._refuse(interaction, "Teaching labels needs the Manage Server permission, in a server.")
            return
        teaching, scope, user = self.pipeline.teaching, self._taught_scope(interaction), str(interaction.user.id)
        try:
            command = learn_command(label, (tags or "").replace(",", " ").split(), DISCORD_LEARN_EXAMPLE)
            warnings = await teaching.start(scope, command, user)
        except TeachingError as error:
            await self._refuse(interaction, str(error))
            return
        await self._defer(interaction, ephemeral=True)
        lines = []
        for photo in photos:
            problem = self._check(photo)
            if problem:
                lines.append(f"Not added: {problem}")
                continue
            try:
                await teaching.add(scope, command.name, await self._download(photo.to_dict())(), user, refit=False)
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
        await self._follow_up(interaction, "\n".join(lines + warnings + advice)[:MESSAGE_LIMIT], ephemeral=True)

    async def forget(self, interaction: discord.Interaction, label: str) -> None:
        if not interaction.guild_id or not interaction.permissions.manage_guild:
            await self._refuse(interaction, "Forgetting labels needs the Manage Server permission, in a server.")
            return
        name = label.strip().lower()
        try:
            forgotten = await self.pipeline.teaching.forget(self._taught_scope(interaction), name)
        except TeachingError as error:
            await self._refuse(interaction, str(error))
            return
        text = forgot_text(discord.utils.escape_markdown(name), forgotten, " in this server")
        await interaction.response.send_message(text, ephemeral=True)

    async def labels(self, interaction: discord.Interaction) -> None:
        text = discord.utils.escape_markdown(await self.pipeline.teaching.describe(self._taught_scope(interaction)))
        await interaction.response.send_message(text[:MESSAGE_LIMIT], ephemeral=True)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("discord command failed: %s", error, exc_info=error)
        try:
            await self._refuse(interaction, APOLOGY)
        except discord.HTTPException:
            log.warning("could not tell the user about the error")


def build_tree(tree: app_commands.CommandTree, handlers: HashtagCommands) -> None:
    """Define every command, with the help text users see, on `tree`."""

    @tree.command(name="hashtags", description="Instagram hashtags that fit a photo, or one set for a post's photos")
    @app_commands.describe(
        image="The photo to tag",
        count=f"How many hashtags (1–{MAX_TAG_COUNT}); default from the server's settings",
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
        images = [i for i in (image, image2, image3, image4) if i is not None]
        await handlers.hashtags(interaction, images, count, private)

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

    @tree.command(name="learn", description="Teach me a label for this server from a few photos (5–30 in all)")
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
        photos = [photo1, photo2, photo3, photo4, photo5, photo6, photo7, photo8, photo9, photo10]
        await handlers.learn(interaction, label, tags, [p for p in photos if p is not None])

    @tree.command(name="forget", description="Forget a label taught in this server")
    @app_commands.describe(label="The taught label, as /labels lists it")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def forget(interaction: discord.Interaction, label: str) -> None:
        await handlers.forget(interaction, label)

    @tree.command(name="labels", description="What I recognise here, taught labels included")
    async def labels(interaction: discord.Interaction) -> None:
        await handlers.labels(interaction)

    tree.on_error = handlers.on_error


class HashtagClient(discord.Client):
    """The Discord client with its command tree (`tree`) and the commands' shared state (`commands`)."""

    def __init__(self, config: Config, pipeline: Pipeline, **options: object) -> None:
        # No message of the bot's ever pings: file names and labels are user text.
        super().__init__(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=GUILD_READY_WAIT,
            **options,
        )
        self.tree = app_commands.CommandTree(self)
        self.commands = HashtagCommands(config, pipeline)
        build_tree(self.tree, self.commands)

    async def setup_hook(self) -> None:
        """Logged in (the application id is known), not yet connected: take over what dead processes left
        (unless only syncing commands, with no pipeline)."""
        if self.commands.pipeline is not None:
            self.commands.start_adopting(self.application_id)

    async def close(self) -> None:
        await super().close()
        await self.commands.close()


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


# Back-off between attempts to reach Discord again, in seconds: it doubles from the first to the last.
RECONNECT_FIRST, RECONNECT_LAST = 5.0, 300.0


class DiscordAdapter:
    """Discord as the runner sees it: start receiving commands, stop after the ones in flight.

    discord.py reconnects a gateway that drops, but not a client whose first connection fails:
    the sharded client gives up on an unreachable REST API, and the plain one crashes when the
    gateway is down at start (Rapptz/discord.py#10520). `running` retries both on a slow
    back-off; only a rejected token ends it, which retrying cannot mend.
    """

    name = PLATFORM
    chat = True

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        report: Callable[[bool, str], Awaitable[None]] | None = None,
        first_delay: float = RECONNECT_FIRST,
    ) -> None:
        self.config, self.pipeline = config, pipeline
        self.running: asyncio.Task | None = None
        self._report, self._first_delay = report, first_delay
        self.client = self._new_client()

    def _new_client(self) -> HashtagClient:
        """A client for one attempt: a closed discord.py client keeps its closed HTTP session."""
        client = build_client(self.config, self.pipeline)
        if self._report:
            report = self._report

            async def on_ready() -> None:
                # discord.py dispatches `ready` ~2 s after READY even when the gateway has closed
                # for good since: a client that has already stopped must not report itself receiving.
                if not client.is_closed():
                    await report(True, "receiving")

            client.event(on_ready)
        return client

    async def start(self) -> None:
        """Connect in the background; `running` ends only if Discord rejects the token."""
        self.running = asyncio.create_task(self._run(), name="discord")
        log.info("discord adapter starting")

    async def _run(self) -> None:
        delay = self._first_delay
        while True:
            try:
                await self.client.start(self.config.discord_token)
                return
            except Exception as error:
                if not self.retryable(error):
                    raise
                log.warning("discord is not receiving: %s; trying again in %.0f s", self.describe(error), delay)
                if self._report:
                    await self._report(False, f"{self.describe(error)}; trying again")
            await self.client.close()
            await asyncio.sleep(delay)
            self.client = self._new_client()
            delay = min(2 * delay, RECONNECT_LAST)

    async def stop(self) -> None:
        await self.client.commands.finish()
        await self.client.close()
        if self.running:
            self.running.cancel()
            await asyncio.gather(self.running, return_exceptions=True)

    @staticmethod
    def retryable(error: BaseException) -> bool:
        """Everything but Discord refusing the bot (a bad token, intents it may not have)."""
        rejected = isinstance(error, discord.ConnectionClosed) and error.code in (4004, 4010, 4011, 4012, 4013, 4014)
        return not (rejected or isinstance(error, discord.LoginFailure | discord.PrivilegedIntentsRequired))

    @staticmethod
    def describe(error: BaseException) -> str:
        """One line on why Discord stopped, naming what to fix and never the token."""
        if isinstance(error, discord.LoginFailure) or (
            isinstance(error, discord.ConnectionClosed) and error.code == 4004
        ):
            return "DISCORD_BOT_TOKEN was rejected by Discord (4004)"
        if isinstance(error, discord.ConnectionClosed):
            return f"Discord's gateway closed the connection for good ({error.code})"
        return f"Discord did not answer ({type(error).__name__})"
