"""Per-chat preferences and the tag blocklist."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Database

# Tags per answer: 5 by default (Instagram shows about five per post since Dec 2025), 30 at most
# (Instagram's own limit per post).
DEFAULT_TAG_COUNT = 5
MAX_TAG_COUNT = 30
TAG_COUNT_RANGE = range(1, MAX_TAG_COUNT + 1)


@dataclass(frozen=True)
class ChatSettings:
    """How a chat wants its answers; None means "use the bot's default"."""

    tag_count: int | None = None
    show_counts: bool | None = None


async def get_chat_settings(db: Database, platform: str, chat_id: str) -> ChatSettings:
    rows = await db.execute_fetchall(
        "SELECT tag_count, show_counts FROM chat_settings WHERE platform = ? AND chat_id = ?",
        (platform, str(chat_id)),
    )
    if not rows:
        return ChatSettings()
    tag_count, show_counts = rows[0]
    return ChatSettings(tag_count, None if show_counts is None else bool(show_counts))


async def save_chat_settings(db: Database, platform: str, chat_id: str, settings: ChatSettings) -> None:
    if settings.tag_count is not None and settings.tag_count not in TAG_COUNT_RANGE:
        raise ValueError(f"tag count must be between 1 and {MAX_TAG_COUNT}")
    await db.write(
        "INSERT INTO chat_settings (platform, chat_id, tag_count, show_counts) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (platform, chat_id) DO UPDATE SET tag_count = excluded.tag_count,"
        " show_counts = excluded.show_counts",
        (
            platform,
            str(chat_id),
            settings.tag_count,
            None if settings.show_counts is None else int(settings.show_counts),
        ),
    )


async def blocked_tags(db: Database) -> set[str]:
    return {row[0] for row in await db.execute_fetchall("SELECT tag FROM blocklist")}
