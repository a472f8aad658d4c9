"""Back up or restore the bot's database safely, even while the bot is running.

    .venv/bin/python -m deploy.backup backup  [--db data/bot.sqlite3] backups/bot-$(date +%F).sqlite3
    .venv/bin/python -m deploy.backup restore [--db data/bot.sqlite3] backups/bot-2026-11-29.sqlite3

SQLite: `backup` uses SQLite's online backup API, a consistent snapshot while
the bot keeps writing (WAL mode); `restore` checks the copy, then swaps it in
atomically. With DATABASE_URL set (PostgreSQL), PostgreSQL's own tools do it:
`pg_dump --format=custom` (a consistent snapshot too) and `pg_restore --clean`
in one transaction; only the bot's schema when the URL names one in its
`search_path`. Stop the bot first for a restore (`systemctl stop hashtag-bot`,
every process) so it does not keep writing meanwhile. Copies are owner-only
(0600), like the database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from storage.sqlite_database import make_private

DEFAULT_DB = Path(os.environ.get("DATABASE_PATH", "data/bot.sqlite3"))
DEFAULT_URL = os.environ.get("DATABASE_URL", "")


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


def dump(url: str, target: Path) -> None:
    """pg_dump's custom format, written beside `target` and renamed when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    make_private(partial)
    _pg("pg_dump", "--format=custom", f"--file={partial}", *_schema(url), f"--dbname={url}")
    partial.replace(target)


def load(copy: Path, url: str) -> None:
    """Replace the bot's tables with the dump's, all or nothing."""
    if not copy.is_file():
        raise FileNotFoundError(f"no backup at {copy}")
    _pg("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={url}", str(copy))


def _schema(url: str) -> list[str]:
    """`--schema=<name>` when the URL's options set a search_path (the bot's tables live there), else nothing."""
    for option in parse_qs(urlsplit(url).query).get("options", []):
        for part in option.replace("-c ", "-c").split():
            if part.startswith("-csearch_path="):
                return [f"--schema={part.split('=', 1)[1].split(',')[0]}"]
    return []


def _pg(tool: str, *arguments: str) -> None:
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} is not installed (Debian: apt install postgresql-client)")
    result = subprocess.run([tool, *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise RuntimeError(f"{tool} failed: {said[-1] if said else f'status {result.returncode}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.backup", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["backup", "restore"])
    parser.add_argument("file", type=Path, help="backup file to write (backup) or read (restore)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="the bot's SQLite file (default: DATABASE_PATH)")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="the bot's PostgreSQL database (default: DATABASE_URL; wins over --db)"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "backup" and args.url:
            dump(args.url, args.file)
        elif args.action == "backup":
            backup(args.db, args.file)
        elif args.url:
            load(args.file, args.url)
        else:
            restore(args.file, args.db)
    except (OSError, RuntimeError, sqlite3.Error) as error:
        print(f"{args.action} failed: {error}", file=sys.stderr)
        return 1
    written = args.file if args.action == "backup" else "the database" if args.url else args.db
    print(f"{args.action}: {written} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
