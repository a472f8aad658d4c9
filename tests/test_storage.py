"""SQLite storage: migrations, concurrent logging, admin figures, settings, retention."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage import request_log, settings, trend_store
from storage.database import DAY, SchemaTooNew, open_database, schema_version
from storage.migrations import MIGRATIONS


async def test_new_file_gets_the_latest_schema_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "sub" / "bot.sqlite3")
    try:
        assert await schema_version(db) == len(MIGRATIONS)
        async with db.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"
        async with db.execute("PRAGMA foreign_keys") as cursor:
            assert (await cursor.fetchone())[0] == 1
    finally:
        await db.close()


async def test_older_file_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(MIGRATIONS[0])
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO blocklist (tag, added_at) VALUES ('spam', 0)")
    raw.commit()
    raw.close()
    db = await open_database(path)
    try:
        assert await schema_version(db) == len(MIGRATIONS)
        assert await settings.blocked_tags(db) == {"spam"}
        await trend_store.queue_queries(db, ["daisy"])
        assert await trend_store.due_queries(db, 1e9, 1e9, 10) == ["daisy"]
    finally:
        await db.close()


async def test_newer_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(SchemaTooNew, match="newer release"):
        await open_database(path)


async def test_200_concurrent_logged_requests_are_all_kept(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "bot.sqlite3")
    try:

        async def one(i: int) -> None:
            await request_log.log_request(
                db,
                request_log.LoggedRequest(
                    platform="telegram" if i % 2 else "discord",
                    chat_id=str(i % 7),
                    user_id=str(i),
                    outcome="ok" if i % 10 else "corrupt",
                    labels=[("daisy", 0.9)],
                    hashtags=["daisy", "flowers"],
                    latency_ms={"decode": 5.0, "inference": float(i)},
                ),
            )

        await asyncio.gather(*(one(i) for i in range(200)))
        async with db.execute("SELECT count(*), count(DISTINCT user_id) FROM requests") as cursor:
            assert tuple(await cursor.fetchone()) == (200, 200)
        stats = await request_log.request_stats(db)
        assert sum(n for _, _, n in stats.per_day) == 200
        assert {p for _, p, _ in stats.per_day} == {"telegram", "discord"}
        assert stats.top_labels == [("daisy", 200)]
        assert stats.top_tags[0] == ("daisy", 200)
        assert stats.errors == [("corrupt", 20)]
        assert 5 < stats.latency_ms["p50"] < stats.latency_ms["p95"] <= stats.latency_ms["p99"] <= 205
    finally:
        await db.close()


async def test_many_concurrent_writes_of_one_statement_all_succeed(tmp_path: Path) -> None:
    """A burst of new labels from many replies at once (python/cpython#118172 broke some of these)."""
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        for _ in range(10):
            results = await asyncio.gather(
                *(trend_store.queue_queries(db, [f"label {i % 7}"]) for i in range(300)), return_exceptions=True
            )
            assert [r for r in results if r is not None] == []
        assert len(await db.execute_fetchall("SELECT query FROM pending_queries")) == 7
    finally:
        await db.close()


async def test_a_second_writer_process_waits_instead_of_failing(tmp_path: Path) -> None:
    """Another connection holding the write lock briefly (a backup, the CLI) does not break logging."""
    path = tmp_path / "bot.sqlite3"
    db = await open_database(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        write = asyncio.create_task(request_log.log_request(db, request_log.LoggedRequest("telegram", "1", "1", "ok")))
        await asyncio.sleep(0.2)
        assert not write.done()
        other.execute("COMMIT")
        await write
        async with db.execute("SELECT count(*) FROM requests") as cursor:
            assert (await cursor.fetchone())[0] == 1
    finally:
        other.close()
        await db.close()


async def test_retention_deletes_only_old_rows(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        old = request_log.now() - 40 * DAY
        await request_log.log_request(db, request_log.LoggedRequest("telegram", "1", "1", "ok"), at=old)
        await request_log.log_request(db, request_log.LoggedRequest("telegram", "1", "1", "ok"))
        assert await request_log.delete_older_than(db, 30) == 1
        async with db.execute("SELECT count(*) FROM requests") as cursor:
            assert (await cursor.fetchone())[0] == 1
    finally:
        await db.close()


async def test_chat_settings_round_trip_and_validate(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        assert await settings.get_chat_settings(db, "telegram", "5") == settings.ChatSettings()
        await settings.save_chat_settings(db, "telegram", "5", settings.ChatSettings(12, True))
        await settings.save_chat_settings(db, "telegram", "5", settings.ChatSettings(8, False))
        assert await settings.get_chat_settings(db, "telegram", "5") == settings.ChatSettings(8, False)
        assert await settings.get_chat_settings(db, "discord", "5") == settings.ChatSettings()
        with pytest.raises(ValueError, match="between 1 and 30"):
            await settings.save_chat_settings(db, "telegram", "5", settings.ChatSettings(31, None))
    finally:
        await db.close()


async def test_instagram_health_records_failures_and_pauses(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "bot.sqlite3")
    try:
        assert not (await trend_store.health(db)).paused
        health = await trend_store.record_failure(db, "rate_limited: 429", 3600)
        assert health.paused and health.failures == 1 and health.last_error == "rate_limited: 429"
        await trend_store.record_success(db)
        health = await trend_store.health(db)
        assert not health.paused and health.failures == 0 and health.last_success is not None
    finally:
        await db.close()
