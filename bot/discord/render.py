"""The Discord reply: the answer in Discord's markdown, packed into messages Discord takes."""

from __future__ import annotations

import discord

from bot.pipeline import Answer
from bot.render import MAX_TAG_COUNT, note_lines, post_note, subject_line, tag_count

MESSAGE_LIMIT = 2000


def answer_markdown(answer: Answer, names: list[str] | None = None) -> str:
    """Subject, the tags in a code block for exact copying, a short note, and what an answer for several covers."""
    note = "\n".join(note_lines(answer.tags, answer.show_counts))
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
    if value is None or tag_count(value) is not None:
        return None
    return f"`{option}` must be from 1 to {MAX_TAG_COUNT} (got {value})."
