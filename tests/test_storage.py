"""Storage on both engines (SQLite, and PostgreSQL when a server is there): migrations, concurrent logging,
admin figures, settings, retention."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import sys
from pathlib import Path

import pytest

from storage import inbox, request_log, settings, trend_store
from storage.coalesce import Coalescer
from storage.database import DAY, connect, open_database, statements
from storage.errors import DatabaseError, SchemaTooNew
from storage.migrations import MIGRATIONS
from storage.request_writer import RequestWriter
from tests.support.bot_process import ROOT
from tests.support.counting_db import CountingWrites


async def test_new_file_gets_the_latest_schema_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "sub" / "bot.sqlite3")
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert (await db.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
        assert (await db.execute_fetchall("PRAGMA foreign_keys"))[0][0] == 1
    finally:
        await db.close()


async def at_version(database: Path | str, version: int) -> None:
    """Leave `database` as a release with `version` migrations would have."""
    db = await connect(database)
    try:
        async with db.transaction() as tx:
            for script in MIGRATIONS[:version]:
                for statement in statements(script):
                    await tx.write(statement)
            await tx.set_schema_version(version)
    finally:
        await db.close()


async def test_older_database_is_upgraded_and_keeps_its_rows(database: Path | str) -> None:
    await at_version(database, 1)
    old = await connect(database)
    await old.write("INSERT INTO blocklist (tag, added_at) VALUES ('spam', 0)")
    await old.close()
    db = await open_database(database)
    try:
        assert await db.schema_version() == len(MIGRATIONS)
        assert await settings.blocked_tags(db) == {"spam"}
        await trend_store.queue_queries(db, ["daisy"])
        assert await trend_store.due_queries(db, 1e9, 1e9, 10) == ["daisy"]
    finally:
        await db.close()


async def test_newer_database_is_refused_with_a_clear_message(database: Path | str) -> None:
    await at_version(database, 0)
    db = await connect(database)
    await db.set_schema_version(len(MIGRATIONS) + 1)
    await db.close()
    with pytest.raises(SchemaTooNew, match="newer release"):
        await open_database(database)


async def test_processes_starting_together_upgrade_once(database: Path | str) -> None:
    """Several bot processes starting at once on one new database: each opens it, the schema is made once."""
    opened = await asyncio.gather(*(open_database(database) for _ in range(8)))
    try:
        assert [await db.schema_version() for db in opened] == [len(MIGRATIONS)] * 8
        assert len(await opened[0].execute_fetchall("SELECT id FROM instagram_health")) == 1
    finally:
        for db in opened:
            await db.close()


async def test_200_concurrent_logged_requests_are_all_kept(database: Path | str) -> None:
    db = await open_database(database)
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
        rows = await db.execute_fetchall("SELECT count(*), count(DISTINCT user_id) FROM requests")
        assert tuple(rows[0]) == (200, 200)
        stats = await request_log.request_stats(db)
        assert sum(n for _, _, n in stats.per_day) == 200
        assert {p for _, p, _ in stats.per_day} == {"telegram", "discord"}
        assert stats.top_labels == [("daisy", 200)]
        assert stats.top_tags[0] == ("daisy", 200)
        assert stats.errors == [("corrupt", 20)]
        assert 5 < stats.latency_ms["p50"] < stats.latency_ms["p95"] <= stats.latency_ms["p99"] <= 205
    finally:
        await db.close()


async def test_many_concurrent_writes_of_one_statement_all_succeed(database: Path | str) -> None:
    """A burst of new labels from many replies at once (python/cpython#118172 broke some of these)."""
    db = await open_database(database)
    try:
        for _ in range(10):
            results = await asyncio.gather(
                *(trend_store.queue_queries(db, [f"label {i % 7}"]) for i in range(300)), return_exceptions=True
            )
            assert [r for r in results if r is not None] == []
        assert len(await db.execute_fetchall("SELECT query FROM pending_queries")) == 7
    finally:
        await db.close()


async def test_writes_made_together_go_in_a_few_statements_and_each_lands_once(database: Path | str) -> None:
    """A hundred replies finishing at once: their log rows and their inbox marks, each in a handful of
    statements instead of a hundred, every row written once."""
    db = await open_database(database)
    counted = CountingWrites(db)
    try:
        writer = RequestWriter(counted)
        for user in range(100):
            writer.add(request_log.LoggedRequest("telegram", "1", str(user), "ok", hashtags=["daisy"]))
        await writer.drain()
        rows = await db.execute_fetchall("SELECT count(*), count(DISTINCT user_id) FROM requests")
        assert tuple(rows[0]) == (100, 100)
        assert counted.writes <= 3, counted.writes

        assert await inbox.receive(db, 7, [(update, "{}") for update in range(100)], "p1") == set(range(100))
        assert await inbox.receive(db, 7, [(99, "{}"), (100, "{}")], "p2") == {100}  # 99: a redelivery
        counted.writes = 0
        marks = Coalescer(functools.partial(inbox.answer, counted), most=60)
        await asyncio.gather(*(marks.add((7, update)) for update in range(100)))
        assert counted.writes == 2, counted.writes  # 100 marks made together, at most 60 a statement
        answered = await db.execute_fetchall("SELECT count(*), min(process) FROM inbox WHERE answered_at IS NOT NULL")
        assert tuple(answered[0]) == (100, "p1")
    finally:
        await db.close()


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_is_written(database: Path | str) -> None:
    db = await open_database(database)
    try:
        started, go_on = asyncio.Event(), asyncio.Event()

        async def keep_rows(users: list[str]) -> None:
            if "slow" in users:  # holds the first write open while the others arrive
                started.set()
                await go_on.wait()
            if "poison" in users:
                raise DatabaseError("disk full")
            await request_log.log_requests(
                db, [(request_log.LoggedRequest("web", "1", user, "ok"), 0.0) for user in users]
            )

        rows = Coalescer(keep_rows)
        first = asyncio.create_task(rows.add("slow"))
        await started.wait()
        second = [asyncio.create_task(rows.add(user)) for user in ("a", "poison", "b")]
        go_on.set()
        await first
        results = await asyncio.gather(*second, return_exceptions=True)
        assert [type(r) for r in results] == [DatabaseError] * 3
        await rows.add("after")
        written = await db.execute_fetchall("SELECT user_id FROM requests ORDER BY id")
        assert [row[0] for row in written] == ["slow", "after"]
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
        assert (await db.execute_fetchall("SELECT count(*) FROM requests"))[0][0] == 1
    finally:
        other.close()
        await db.close()


async def test_retention_deletes_only_old_rows(database: Path | str) -> None:
    db = await open_database(database)
    try:
        old = request_log.now() - 40 * DAY
        await request_log.log_request(db, request_log.LoggedRequest("telegram", "1", "1", "ok"), at=old)
        await request_log.log_request(db, request_log.LoggedRequest("telegram", "1", "1", "ok"))
        assert await request_log.delete_older_than(db, 30) == 1
        assert (await db.execute_fetchall("SELECT count(*) FROM requests"))[0][0] == 1
    finally:
        await db.close()


async def test_expired_discord_tokens_leave_the_inbox(database: Path | str) -> None:
    """A deferred command's token can post for 15 minutes: after that its payload is cleared, answered or not."""
    from storage import inbox

    db = await open_database(database)
    try:
        await inbox.receive(db, 42, [(1, '{"token": "old"}')], "gone")
        await db.write("UPDATE inbox SET received_at = received_at - 16 * 60 WHERE update_id = 1")
        await inbox.receive(db, 42, [(2, '{"token": "new"}')], "gone")
        await inbox.receive(db, 7, [(3, '{"telegram": "update"}')], "gone")
        await db.write("UPDATE inbox SET received_at = received_at - 16 * 60 WHERE update_id = 3")
        assert await inbox.expire(db, 42, 15 * 60) == 1
        rows = await db.execute_fetchall("SELECT update_id, payload IS NULL FROM inbox ORDER BY update_id")
        assert [tuple(row) for row in rows] == [(1, 1), (2, 0), (3, 0)], "another bot's rows are not touched"
    finally:
        await db.close()


async def test_chat_settings_round_trip_and_validate(database: Path | str) -> None:
    db = await open_database(database)
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


async def test_instagram_health_records_failures_and_pauses(database: Path | str) -> None:
    db = await open_database(database)
    try:
        assert not (await trend_store.health(db)).paused
        health = await trend_store.record_failure(db, "rate_limited: 429", 3600)
        assert health.paused and health.failures == 1 and health.last_error == "rate_limited: 429"
        await trend_store.record_success(db)
        health = await trend_store.health(db)
        assert not health.paused and health.failures == 0 and health.last_success is not None
    finally:
        await db.close()


async def test_one_process_leads_and_another_takes_over_when_it_dies(database: Path | str, tmp_path: Path) -> None:
    """The trend refresher's election: one holder at a time, freed by the holder's death (kill -9), not by a row."""
    script = (
        "import asyncio, sys\n"
        "from storage.database import open_database\n"
        "async def main():\n"
        "    db = await open_database(sys.argv[1])\n"
        "    async with db.leadership('trend-refresher') as leading:\n"
        "        print('leading' if leading else 'not leading', flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(database), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    db = await open_database(database)
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"leading\n"
        async with db.leadership("trend-refresher") as leading:
            assert not leading
        async with db.leadership("something else") as leading:
            assert leading
        holder.kill()
        await holder.wait()
        async with db.leadership("trend-refresher") as leading:
            assert leading
            async with db.leadership("trend-refresher") as again:
                assert not again, "held by this process's own first claim, too"
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await db.close()
