"""bot/health.py: `python -m bot --check` on a new database of either engine (the token checks are in test_faults)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bot_process import run_bot


def test_health_check_reports_model_database_and_instagram(tmp_path: Path, database: Path | str) -> None:
    """On a new database of either engine (PostgreSQL's address shown without its password)."""
    where = {"DATABASE_URL": database} if isinstance(database, str) else {"DATABASE_PATH": str(database)}
    result = run_bot("--check", env=where, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model: ok" in result.stdout and "database: ok (" in result.stdout
    assert "instagram: no session configured" in result.stdout
    assert "teaching: on; 0 taught label(s)" in result.stdout
    assert "hashtag_test@" not in result.stdout + result.stderr
    missing = run_bot("--check", env={**where, "INSTAGRAM_SESSION_FILE": str(tmp_path / "nope")}, cwd=tmp_path)
    assert missing.returncode == 1 and "session file" in missing.stderr
