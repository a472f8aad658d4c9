"""Admin tooling: backup/restore while the bot writes, scripts' --help and dry runs, benchmark smoke run."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deploy import backup as backup_tool
from deploy import export_taught
from inference.few_shot import load_taught
from storage import inbox, lessons, request_log, settings, taught, trend_store
from storage.database import open_database
from tests.support import postgres
from tests.support.bot_process import ROOT

SCRIPTS = sorted((ROOT / "deploy").glob("*.sh"))
MODULES = [
    "deploy.backup",
    "deploy.copy_to_postgres",
    "deploy.discord_sync",
    "deploy.export_taught",
    "deploy.telegram_webhook",
]


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_backup_while_writing_restores_to_a_consistent_database(tmp_path: Path) -> None:
    """Also: every file holding the log is owner-only under a permissive umask, and no -wal/-shm is left."""
    path, copy = tmp_path / "bot.sqlite3", tmp_path / "backups" / "copy.sqlite3"
    umask = os.umask(0o002)
    try:
        db = await open_database(path)
    finally:
        os.umask(umask)
    assert owner_only(path) and owner_only(tmp_path / "bot.sqlite3-wal")
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await request_log.log_request(db, request_log.LoggedRequest("telegram", "1", str(written), "ok"))
            written += 1

    task = asyncio.create_task(writer())
    try:
        while written < 200:
            await asyncio.sleep(0)
        await asyncio.to_thread(backup_tool.backup, path, copy)
        assert written > 0
    finally:
        stop.set()
        await task
        await db.close()
    with sqlite3.connect(copy) as snapshot:
        assert snapshot.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = snapshot.execute("SELECT count(*), max(CAST(user_id AS INTEGER)) FROM requests").fetchone()
    assert 200 <= rows[0] <= written and rows[1] == rows[0] - 1, "a prefix of the writes, nothing torn"
    assert owner_only(copy) and sorted(p.name for p in copy.parent.iterdir()) == [copy.name]

    restored = tmp_path / "restored.sqlite3"
    shutil.copy(path, restored)
    restored.chmod(0o644)
    backup_tool.restore(copy, restored)
    reopened = await open_database(restored)
    try:
        assert (await reopened.execute_fetchall("SELECT count(*) FROM requests"))[0][0] == rows[0]
    finally:
        await reopened.close()
    assert owner_only(restored)


def test_restore_refuses_a_damaged_copy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"SQLite format 3\x00" + bytes(200))
    assert backup_tool.main(["restore", str(bad), "--db", str(tmp_path / "db.sqlite3")]) == 1
    assert not (tmp_path / "db.sqlite3").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shell_scripts_parse_and_explain_themselves(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("Usage:")
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(script)], check=True)


def test_install_dry_run_touches_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "opt"
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "install.sh"), "--dry-run", "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "systemctl enable hashtag-bot.service" in result.stdout
    assert not prefix.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as the service user needs root (CI runs as root)")
def test_the_installed_env_file_is_read_by_the_service_user_and_by_no_one_else() -> None:
    """Give `.env` the owner and mode install.sh gives it, then read it as the unit's user would (a user in
    the file's group; nobody/nogroup here) and as a stranger: the first gets the settings, the second one
    clear line, never a PermissionError traceback."""
    import grp
    import tempfile

    prefix = Path(tempfile.mkdtemp(prefix="install-"))
    try:
        steps = subprocess.run(
            ["bash", str(ROOT / "deploy" / "install.sh"), "--dry-run", "--prefix", str(prefix), "--user", "nogroup"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        owner = next(line.split()[2] for line in steps if line.startswith("+ chown") and line.endswith("/.env"))
        mode = next(line.split()[2] for line in steps if line.startswith("+ chmod") and line.endswith("/.env"))
        prefix.chmod(0o755)
        (prefix / "model").mkdir()
        (prefix / "model" / "model.tflite").touch()
        env_file = prefix / ".env"
        env_file.write_text(f"TELEGRAM_BOT_TOKEN=123:from-the-env-file\nMODEL_DIR={prefix / 'model'}\n")
        user, group = owner.split(":")
        shutil.chown(env_file, user, group)
        env_file.chmod(int(mode, 8))
        service_group = grp.getgrnam("nogroup").gr_gid

        def read_as(gid: int) -> subprocess.CompletedProcess:
            """Import first (the checkout need not be readable to others), then become uid 65534 and load."""
            script = (
                "import os, sys; from bot.config import load_config_or_exit; "
                f"os.setgroups([]); os.setgid({gid}); os.setuid(65534); "
                "print(load_config_or_exit().telegram_token)"
            )
            env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
            return subprocess.run(
                [sys.executable, "-c", script], cwd=prefix, env=env, capture_output=True, text=True, timeout=60
            )

        service, stranger = read_as(service_group), read_as(65533)
    finally:
        shutil.rmtree(prefix)
    assert (owner, mode) == ("root:nogroup", "640")
    assert service.returncode == 0 and service.stdout.strip() == "123:from-the-env-file", service.stderr
    assert stranger.returncode == 2 and "cannot read it" in stranger.stderr and "Traceback" not in stranger.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_unit_is_hardened(tmp_path: Path) -> None:
    """The unit as install.sh writes it, scored by systemd-analyze: 3.2 before the hardening of issue 24."""
    unit = tmp_path / "hashtag-bot.service"
    text = (ROOT / "deploy" / "hashtag-bot.service").read_text()
    unit.write_text(text.replace("@PREFIX@", "/opt/hashtag-bot").replace("@USER@", "hashtagbot"))
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", unit.name], cwd=tmp_path, capture_output=True, text=True
    )
    score = float(result.stdout.split("Overall exposure level for hashtag-bot.service:")[1].split()[0])
    assert score <= 1.2, result.stdout
    for limit in ("LimitNOFILE=", "MemoryMax=", "TasksMax=", "ProtectProc=invisible", "SystemCallFilter=@system"):
        assert limit in text


def test_train_wrapper_refuses_a_missing_folder() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "train_model.sh"), "--data", "/nonexistent"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "no such folder" in result.stderr


@pytest.mark.parametrize("module", MODULES)
def test_python_tools_have_help(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "usage:" in result.stdout


def test_serving_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A few iterations of the benchmark, so it keeps working; no timing is asserted."""
    from bench import serving

    assert serving.main(["--runs", "4", "--batch", "2", "--skip-keras", "--photos", str(tmp_path)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["startup"]["litert"]["imports_tensorflow"] is False
    assert figures["litert classify, 16 concurrent callers"]["mean_batch"] >= 1
    assert set(figures["decode"]) == {"12MP 4032x3024", "Telegram 1280x960"}


def test_end_to_end_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """One second of one user and two Discord commands through the real runner; nothing timed is asserted."""
    from bench import e2e

    assert e2e.main(["--duration", "1", "--users", "1", "--discord", "2", "--photos", "3"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["telegram"][0]["lost"] == 0 and figures["telegram"][0]["errors"] == 0
    assert figures["telegram"][0]["cpu_ms_per_reply"] > 0
    assert 0 <= figures["telegram"][0]["chat_actions"] <= figures["telegram"][0]["replies"]
    assert figures["discord"]["followed_up"] == 2
    assert figures["imports_tensorflow"] is False
    assert figures["storage"]["lost"] == 0


def test_export_taught_writes_one_scope_for_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.sqlite3"

    async def teach() -> None:
        db = await open_database(path)
        for scope, name in (("global", "blue ceramic mug"), ("discord:7", "red teapot")):
            await taught.save_label(db, scope, name, ["mug"], "42")
            for k in range(3):
                await taught.add_example(db, scope, name, "mobilenetv2", np.full((12, 1280), k, np.float32), "42")
        await db.close()

    asyncio.run(teach())
    monkeypatch.setenv("DATABASE_PATH", str(path))
    assert export_taught.main(["--out", str(tmp_path / "taught.npz")]) == 0
    assert "blue ceramic mug: 3 photos" in capsys.readouterr().out
    (mug,) = load_taught(tmp_path / "taught.npz")
    assert mug.name == "blue ceramic mug" and mug.tags == ("mug",) and mug.examples.shape == (3, 12, 1280)
    assert [e[0, 0] for e in mug.examples] == [0, 1, 2]
    assert export_taught.main(["--out", str(tmp_path / "server.npz"), "--scope", "discord:7"]) == 0
    assert [t.name for t in load_taught(tmp_path / "server.npz")] == ["red teapot"]


async def filled(database: Path | str) -> None:
    """A database a bot has used: requests, settings, trend facts, a taught label, a lesson, an update."""
    db = await open_database(database)
    try:
        for n in range(3):
            await request_log.log_request(
                db,
                request_log.LoggedRequest("telegram", "7", str(n), "ok", labels=[("daisy", 0.9)], hashtags=["daisy"]),
            )
        await settings.save_chat_settings(db, "telegram", "7", settings.ChatSettings(8, True))
        await db.write("INSERT INTO blocklist (tag, reason, added_at) VALUES ('spam', '', 0)")
        await trend_store.save_counts(db, {"daisy": 4_200_000_000})
        await trend_store.save_search(db, "daisy", ["daisy", "daisies"])
        await trend_store.record_failure(db, "rate_limited: 429", 60)
        await taught.save_label(db, "global", "blue ceramic mug", ["mug"], "42")
        for k in range(5):
            await taught.add_example(
                db, "global", "blue ceramic mug", "mobilenetv2", np.full((12, 1280), k, np.float32), "42"
            )
        await lessons.start(db, "telegram", "42", "blue ceramic mug", "42")
        await inbox.receive(db, 1, [(900, "{}")], "gone-process")
    finally:
        await db.close()


async def contents(database: Path | str) -> tuple:
    """What the bot would read back, from either engine."""
    db = await open_database(database)
    try:
        stats = await request_log.request_stats(db)
        (mug,) = await taught.taught_classes(db, "global", "mobilenetv2")
        return (
            stats.per_day,
            stats.top_tags,
            await settings.get_chat_settings(db, "telegram", "7"),
            await settings.blocked_tags(db),
            await trend_store.media_counts(db, ["daisy"]),
            await trend_store.search_results(db, ["daisy"]),
            (await trend_store.health(db)).failures,
            (mug.name, mug.tags, mug.examples.shape, [float(e[0, 0]) for e in mug.examples]),
            await taught.version(db),
            await lessons.current(db, "telegram", "42", 3600),
            len(await inbox.adopt(db, 1, "me", set(), 3600)),
        )
    finally:
        await db.close()


async def test_an_sqlite_database_copies_into_postgresql_whole(tmp_path: Path) -> None:
    with postgres.fresh_schema() as url:
        source = tmp_path / "bot.sqlite3"
        await filled(source)
        command = [sys.executable, "-m", "deploy.copy_to_postgres", "--from", str(source), "--to", url]
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert "requests: 3 row(s)" in result.stdout and "taught_examples: 5 row(s)" in result.stdout
        assert await contents(url) == await contents(source)
        db = await open_database(url)
        try:  # PostgreSQL's row counters carry on after the copied ids
            await request_log.log_request(db, request_log.LoggedRequest("telegram", "7", "9", "ok"))
            assert (await db.execute_fetchall("SELECT max(id) FROM requests"))[0][0] == 4
        finally:
            await db.close()
        again = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, cwd=ROOT)
        assert again.returncode == 1 and "already has rows" in again.stderr and "hashtag_test@" not in again.stderr


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump (Debian's postgresql-client)")
async def test_postgresql_backup_and_restore_use_pg_dump(tmp_path: Path) -> None:
    with postgres.fresh_schema() as url:
        await filled(url)
        copy = tmp_path / "backups" / "bot.dump"
        assert await asyncio.to_thread(backup_tool.main, ["backup", str(copy), "--url", url]) == 0
        assert owner_only(copy) and sorted(p.name for p in copy.parent.iterdir()) == [copy.name]
        before = await contents(url)
        db = await open_database(url)
        try:
            await request_log.log_request(db, request_log.LoggedRequest("telegram", "8", "1", "ok"))
            await taught.forget(db, "global", "blue ceramic mug")
        finally:
            await db.close()
        assert await asyncio.to_thread(backup_tool.main, ["restore", str(copy), "--url", url]) == 0
        db = await open_database(url)
        try:
            assert (await db.execute_fetchall("SELECT count(*) FROM requests"))[0][0] == 3
        finally:
            await db.close()
        assert (await contents(url))[1:] == before[1:]
