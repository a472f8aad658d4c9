"""The Telegram reply: the answer in Telegram's HTML, and the buttons under it."""

from __future__ import annotations

import html

from telegram import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from bot.pipeline import Answer
from bot.render import note_lines, post_note, subject_line
from inference.scene import Scene
from trends.composer import ComposedTags

COPY_TEXT_LIMIT = 256


def answer_html(answer: Answer) -> str:
    """The reply to a photo or an album, in Telegram's HTML."""
    return tags_html(answer.scene, answer.tags, answer.show_counts, post_note(answer))


def tags_html(scene: Scene, tags: ComposedTags, with_counts: bool, note: str = "") -> str:
    """Subject, one tap-to-copy line, a short note (and what an album's answer covers)."""
    lines = [f"📷 <b>{html.escape(subject_line(scene))}</b>", f"<code>{html.escape(tags.line)}</code>"]
    lines += [
        html.escape(line) if with_counts else f"<i>{html.escape(line)}</i>" for line in note_lines(tags, with_counts)
    ]
    if note:
        lines.append(html.escape(note))
    return "\n".join(lines)


def keyboard(tags: ComposedTags, key: str) -> InlineKeyboardMarkup:
    """Copy button (when the line fits Telegram's 256-character limit), more tags, with counts."""
    row = []
    if len(tags.line) <= COPY_TEXT_LIMIT:
        row.append(InlineKeyboardButton("📋 Copy", copy_text=CopyTextButton(tags.line)))
    row += [
        InlineKeyboardButton("➕ More tags", callback_data=f"more:{key}"),
        InlineKeyboardButton("📊 With counts", callback_data=f"counts:{key}"),
    ]
    return InlineKeyboardMarkup([row])
