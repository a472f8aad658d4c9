"""`python -m bot --console PHOTO...`: exactly what the bot would answer for each photo, with no chat token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.config import Config
from bot.pipeline import open_pipeline
from bot.render import note_lines, subject_line
from inference.decode import ImageRejected


def printed(text: str) -> Callable[[], Awaitable[None]]:
    """The console's way to send an answer: print it."""

    async def send() -> None:
        print(text)

    return send


async def console(config: Config, photos: list[Path]) -> int:
    """Print exactly what the bot would answer for each photo, without any chat token."""
    pipeline = await open_pipeline(config)
    failed = 0
    try:
        for path in photos:
            print(f"== {path}")
            try:
                answer = await pipeline.answer(path.read_bytes(), "console", "console", "console")
            except (OSError, ImageRejected) as error:
                print(str(error))
                failed += 1
                continue
            note = "\n".join(note_lines(answer.tags, answer.show_counts))
            await pipeline.deliver([answer], printed(f"📷 {subject_line(answer.scene)}\n{answer.tags.line}\n{note}"))
    finally:
        await pipeline.close()
    return 1 if failed else 0
