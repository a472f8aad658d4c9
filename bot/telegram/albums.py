"""Telegram albums: the photos of one post, gathered so the post gets one answer.

Telegram sends an album as separate messages that share a `media_group_id`,
within a second or so, and never says how many there are. So the first photo
of an album waits until none has come for `quiet` seconds and then answers
for all of them; the others wait for that answer. Each photo's update stays
unanswered in the durable inbox (`bot.telegram.inbox`) until the album's
answer is sent, so a crash in between replays the whole album.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from telegram import Message


@dataclass
class Album:
    """The photos gathered so far; `answered` is set once the album's answer is sent (or has failed)."""

    messages: list[Message]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)


class Albums:
    """The albums being gathered in this process, by chat and media group."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self._open: dict[tuple[int, str], Album] = {}

    def is_open(self, message: Message) -> bool:
        """Whether this photo belongs to an album already being gathered (in a group, only the first
        photo of an album carries the caption that mentions the bot)."""
        return (message.chat_id, str(message.media_group_id)) in self._open

    async def gather(self, message: Message) -> Album | None:
        """For an album's first photo: the album, once complete (the caller answers it, then `done`).
        For the others: None, once the first has answered."""
        key = (message.chat_id, str(message.media_group_id))
        album = self._open.get(key)
        if album is not None:
            album.messages.append(message)
            album.arrived.set()
            await album.answered.wait()
            return None
        album = self._open[key] = Album([message])
        try:
            while True:
                album.arrived.clear()
                try:
                    await asyncio.wait_for(album.arrived.wait(), self.quiet)
                except TimeoutError:
                    break
        except BaseException:
            album.answered.set()  # stopped while gathering: the others must not wait for an answer
            raise
        finally:
            del self._open[key]
        return album

    @staticmethod
    def done(album: Album) -> None:
        album.answered.set()
