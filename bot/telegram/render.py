"""The Telegram reply: the answer in Telegram's HTML, and the buttons under it."""

from __future__ import annotations

import html

from telegram import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from bot.pipeline import Answer
from bot.render import count_lines, post_note, subject_line, tier_summary
from inference.scene import Scene
from trends.composer import ComposedTags

COPY_TEXT_LIMIT = 256


def answer_html(answer: Answer) -> str:
    """The reply to a photo or an album, in Telegram's HTML."""
    return tags_html(answer.scene, answer.tags, answer.show_counts, post_note(answer))


def tags_html(scene: Scene, tags: ComposedTags, with_counts: bool, note: str = "") -> str:
    """Subject, one tap-to-copy line, a short note (and what an album's answer covers)."""
    lines = [f"📷 <b>{html.escape(subject_line(scene))}</b>", f"<code>{html.escape(tags.line)}</code>"]
    if with_counts:
        lines += [html.escape(line) for line in count_lines(tags)]
    elif summary := tier_summary(tags.tags):
        lines.append(f"<i>{html.escape(summary)}</i>")
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
