"""bot/console.py: `python -m bot --console PHOTO...` prints what the bot would answer, with no token."""

from __future__ import annotations

from pathlib import Path

from tests.support.bot_process import run_bot
from tests.support.photos import FIXTURES


def test_console_prints_what_the_bot_would_answer(tmp_path: Path) -> None:
    photo = sorted(FIXTURES.glob("*-*.jpg"))[0]
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = run_bot("--console", str(photo), str(bad), env={"DATABASE_PATH": str(tmp_path / "db.sqlite3")})
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("📷 " + photo.name.split("-")[0])
    assert lines[2].startswith("#") and len(lines[2].split()) == 5
    assert "not an image" in result.stdout
