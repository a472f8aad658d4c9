"""The Discord commands: `/hashtags image:<file>`, "Get hashtags" on any message with images, settings, teaching.

Each command is defined once, with the help text users see; what they share
is `bot.discord.handlers.DiscordHandlers`, reached from the interaction's
client. Commands validate, defer within Discord's 3-second deadline, call the
shared `Pipeline`, and follow up. Syncing the commands with Discord is
`deploy/discord_sync.py`'s job, never done at start.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord import PLATFORM
from bot.discord.handlers import (
    DISCORD_LEARN_EXAMPLE,
    LEARN_ATTACHMENTS,
    MAX_IMAGES_PER_MESSAGE,
    DiscordHandlers,
    is_image,
)
from bot.discord.render import MESSAGE_LIMIT, out_of_range
from bot.render import MAX_TAG_COUNT, TAG_COUNTS, forgot_text, photo_count, settings_text
from bot.teaching import TeachingError, learn_command
from inference.decode import ImageRejected
from inference.few_shot import MIN_EXAMPLES


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
