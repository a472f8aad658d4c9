"""bot/pipeline.py: the one photo path every platform calls, and its guarantees."""

from __future__ import annotations


async def test_reply_path_survives_a_locked_database(pipeline, flower_photos) -> None:
    """Another process holding the write lock delays nothing visible: the answer still comes."""
    import sqlite3

    await pipeline.db.write("PRAGMA busy_timeout = 50")
    path = next(row[2] for row in await pipeline.db.execute_fetchall("PRAGMA database_list"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        name, data = next(iter(flower_photos.items()))
        answer = await pipeline.answer(data, "telegram", "1", "1")
        assert answer.prediction.custom[0].name == name and answer.tags.tags
    finally:
        other.execute("ROLLBACK")
        other.close()
