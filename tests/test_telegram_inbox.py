"""bot/telegram/inbox.py: updates wait their turn in the durable queue (the crash cases are in test_faults)."""

from __future__ import annotations

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.pipelines import gate_classifier


@pytest.mark.parametrize("telegram_app", [{"telegram_concurrency": 1}], indirect=True)
async def test_photos_beyond_the_concurrency_bound_wait_their_turn(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
):
    """With one photo in flight, the second is not even fetched until the first is answered."""
    (_, first), (_, second) = list(flower_photos.items())[:2]
    release = gate_classifier(pipeline)
    await telegram_fake.push(telegram_fake.photo_message(31, first))
    last = await telegram_fake.push(telegram_fake.photo_message(32, second))
    await telegram_fake.wait_for(
        lambda: (
            any(m == "getUpdates" and int(p.get("offset", 0)) > last for m, p in telegram_fake.calls)
            and sum(m == "getFile" for m, _ in telegram_fake.calls) >= 1
        )
    )
    release.set()
    await telegram_fake.replies(31)
    await telegram_fake.replies(32)
    order = [m for m, _ in telegram_fake.calls if m in ("getFile", "sendMessage")]
    assert order == ["getFile", "sendMessage", "getFile", "sendMessage"]


async def test_a_batch_of_updates_is_recorded_in_one_statement(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
):
    """Ten photos waiting at Telegram come in one getUpdates: one insert records them all (one timestamp),
    then each is answered once."""
    telegram_fake.hold_after("getUpdates", 0)
    await telegram_fake.wait_for(lambda: telegram_fake.holding == 1)
    photos = list(flower_photos.values())
    for user in range(40, 50):
        await telegram_fake.push(telegram_fake.photo_message(user, photos[user % len(photos)]))
    telegram_fake.release()
    for user in range(40, 50):
        await telegram_fake.replies(user)
    rows = await pipeline.db.execute_fetchall("SELECT count(*), count(DISTINCT received_at) FROM inbox")
    assert tuple(rows[0]) == (10, 1)
    assert all(len(telegram_fake.replies_to(user)) == 1 for user in range(40, 50))
