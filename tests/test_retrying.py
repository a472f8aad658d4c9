"""bot/retrying.py: the one back-off and the one repeated job the runner and the adapters share."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.retrying import Backoff, repeat
from storage.errors import DatabaseError


def test_waits_double_up_to_the_longest_and_start_over_after_a_success() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.waited == 17.0
    backoff.reset()
    assert (backoff.next(), backoff.waited) == (1.0, 1.0)


async def test_a_database_error_skips_one_round_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    third = asyncio.Event()

    async def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 3:
            third.set()
        if len(rounds) < 3:
            raise DatabaseError("database is locked")

    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(repeat(job, 0, "could not look", wait_first=False))
        await asyncio.wait_for(third.wait(), 5)
        task.cancel()
    assert rounds[:3] == [0, 1, 2]
    assert caplog.text.count("could not look (database is locked)") == 2


async def test_any_other_error_ends_the_job() -> None:
    async def job() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await asyncio.wait_for(repeat(job, 0, "could not look"), 5)
