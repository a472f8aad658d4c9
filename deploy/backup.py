"""Back up or restore the bot's SQLite database safely, even while the bot is running.

    .venv/bin/python -m deploy.backup backup  [--db data/bot.sqlite3] backups/bot-$(date +%F).sqlite3
    .venv/bin/python -m deploy.backup restore [--db data/bot.sqlite3] backups/bot-2026-11-29.sqlite3

`backup` uses SQLite's online backup API: a consistent snapshot while the bot
keeps writing (WAL mode). `restore` checks the copy, then swaps it in
atomically; stop the bot first (`systemctl stop hashtag-bot`) so it does not
keep writing to the old file. Copies are owner-only (0600), like the database.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from storage.sqlite_database import make_private

DEFAULT_DB = Path(os.environ.get("DATABASE_PATH", "data/bot.sqlite3"))


def _check(path: Path) -> None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise RuntimeError(f"{path} failed the integrity check: {result}")


def backup(source: Path, target: Path) -> None:
    """Copy `source` to `target` page by page without blocking the bot's writers for long."""
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    make_private(partial)
    src, dst = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(partial)
    try:
        src.backup(dst, pages=256)
        # The copy is a plain file: a WAL-mode copy would leave -wal/-shm files beside it.
        dst.execute("PRAGMA journal_mode = DELETE")
    finally:
        src.close()
        dst.close()
    _check(partial)
    partial.replace(target)


def restore(copy: Path, database: Path) -> None:
    """Replace `database` with a checked copy of `copy`, atomically."""
    _check(copy)
    staged = database.with_name(database.name + ".restoring")
    backup(copy, staged)
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    staged.replace(database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.backup", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["backup", "restore"])
    parser.add_argument("file", type=Path, help="backup file to write (backup) or read (restore)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="the bot's database (default: DATABASE_PATH)")
    args = parser.parse_args(argv)
    try:
        if args.action == "backup":
            backup(args.db, args.file)
        else:
            restore(args.file, args.db)
    except (OSError, RuntimeError, sqlite3.Error) as error:
        print(f"{args.action} failed: {error}", file=sys.stderr)
        return 1
    print(f"{args.action}: {args.db if args.action == 'restore' else args.file} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
