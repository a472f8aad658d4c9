"""bot/telegram/retry.py: a send Telegram refused for a while (429, 5xx, a reset) is retried, logged once."""

from __future__ import annotations

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.pipelines import outcomes


async def test_bot_api_429_is_retried_after_the_wait(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    telegram_fake.inject_error("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(22, data))
    (answer,) = await telegram_fake.replies(22)
    assert name in answer["text"]
    assert sum(m == "sendMessage" for m, _ in telegram_fake.calls) == 2


@pytest.mark.parametrize("fault", ["500", "502", "reset", "five-429s"])
async def test_a_transient_send_failure_is_retried_and_logged_once(
    telegram_app, telegram_fake, flower_photos, pipeline, fault
) -> None:
    if fault == "reset":
        telegram_fake.inject_reset("sendMessage")
    elif fault == "five-429s":
        for _ in range(5):
            telegram_fake.inject_error("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    else:
        for _ in range(2):
            telegram_fake.inject_error("sendMessage", int(fault), "Internal Server Error")
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(27, data))
    (answer,) = await telegram_fake.replies(27)
    assert name in answer["text"] and "Sorry" not in answer["text"]
    assert await outcomes(pipeline, 1) == [("ok", None)]


async def test_a_send_answered_too_late_is_not_followed_by_an_apology(
    telegram_app, telegram_fake, flower_photos, pipeline
) -> None:
    """The answer arrived but its confirmation came after the timeout: one message, never answer and apology."""
    telegram_fake.inject_delay("sendMessage", 6)
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(28, data))
    assert await outcomes(pipeline, 1) == [("send_failed", "TimedOut")]
    await telegram_fake.push(telegram_fake.command_message(28, "/help"))
    replies = await telegram_fake.replies(28, 2)
    assert name in replies[0]["text"] and "Privacy" in replies[1]["text"] and len(replies) == 2
