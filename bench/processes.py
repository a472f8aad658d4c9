"""Several bot processes on one database: throughput with 1, 2, 3 processes, and CPU per reply, SQLite vs PostgreSQL.

    .venv/bin/python -m bench.processes [--processes 1 2 3] [--users 100] [--duration 20]

Each process runs `python -m bot` with Telegram in webhook mode on a port of
its own; this process plays Telegram's load balancer (each photo is posted to
the next process in turn), the fake Bot API (tests/fake_telegram.py) and the
users (closed loop, as bench.e2e). Runs on PostgreSQL need a server
(BENCH_POSTGRES_URL, default the tests' one that `.ci/run` starts); one
process on SQLite is measured in the same run as the baseline. Prints JSON;
docs/scaling.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.e2e import cpu_seconds, percentiles, telegram_photos, warm_cache
from bench.serving import FLOWERS_DEV
from tests.support import postgres
from tests.support.bot_process import bot_env, free_ports
from tests.support.fake_telegram import FakeTelegram

SECRET = "bench-secret"
UPDATE_IDS = itertools.count(1)  # across levels: an update id seen before is (rightly) not answered again


async def level(
    fake: FakeTelegram, ports: list[int], photos: list, users: int, duration: float, first_user: int
) -> tuple[list[float], int]:
    """Closed-loop users posting photos round-robin to the processes' webhooks; (latencies, lost)."""
    latencies: list[float] = []
    lost = 0
    end = time.monotonic() + duration
    async with aiohttp.ClientSession() as session:

        async def user(uid: int) -> None:
            nonlocal lost
            while time.monotonic() < end:
                n = next(UPDATE_IDS)
                before = len(fake.replies_to(uid))
                body = {
                    "update_id": 10**6 + n,
                    "message": fake.photo_message(uid, b"", renditions=photos[n % len(photos)]),
                }
                sent = asyncio.get_running_loop().time()  # the clock the fake stamps replies with
                address = f"http://127.0.0.1:{ports[n % len(ports)]}/telegram"
                async with session.post(address, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}):
                    pass
                try:
                    await fake.wait_for(lambda uid=uid, before=before: len(fake.replies_to(uid)) > before, timeout=30)
                except TimeoutError:
                    lost += 1
                    continue
                latencies.append(fake.replies_to(uid)[before]["received_at"] - sent)

        await asyncio.gather(*(user(first_user + i) for i in range(users)))
    return latencies, lost


def database_server_cpu() -> float:
    """CPU seconds of every PostgreSQL server process on this machine (0 for SQLite: it runs in the bot)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, IndexError):
            continue  # a process that ended while we looked
    return total


async def listening(port: int, timeout: float = 120) -> None:
    """Wait until a bot's webhook accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return


async def measure(database: str | Path, count: int, args: argparse.Namespace, photos: list, folder: Path) -> dict:
    """`count` processes on `database`: replies/s, latency and the processes' CPU per reply."""
    fake = FakeTelegram()
    await fake.start()
    await warm_cache(database, photos)
    ports = free_ports(count)
    bots = []
    try:
        for port in ports:
            env = bot_env(
                folder,  # SQLite: the database at folder/bot.sqlite3, as `run` warms it
                fake,
                LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                FLOOD_PHOTOS="100000",
                TELEGRAM_MAX_MESSAGES_PER_SECOND="1000",
                TELEGRAM_WEBHOOK_URL="https://bench.example",
                TELEGRAM_WEBHOOK_PORT=str(port),
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                **({"DATABASE_URL": database} if isinstance(database, str) else {}),
            )
            bots.append(await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=folder, env=env))
        for port in ports:
            await listening(port)
        await level(fake, ports, photos, count, 3, 1)  # warm-up: each process answers once or more
        before = sum(cpu_seconds(bot.pid) for bot in bots), cpu_seconds(os.getpid()), database_server_cpu()
        started = time.monotonic()
        latencies, lost = await level(fake, ports, photos, args.users, args.duration, 10_000)
        elapsed = time.monotonic() - started
        used = sum(cpu_seconds(bot.pid) for bot in bots) - before[0]
        server = database_server_cpu() - before[2] if isinstance(database, str) else 0.0
        return {
            "processes": count,
            "database": "postgresql" if isinstance(database, str) else "sqlite",
            "users": args.users,
            "replies": len(latencies),
            "replies_per_s": round(len(latencies) / elapsed, 1),
            "lost": lost,
            **{k: round(v, 1) for k, v in percentiles(latencies).items()},
            "bot_cpu_ms_per_reply": round(1000 * used / max(len(latencies), 1), 1),
            "database_server_cpu_ms_per_reply": round(1000 * server / max(len(latencies), 1), 1),
            "bot_cores_used": round(used / elapsed, 2),
            "load_generator_cores_used": round((cpu_seconds(os.getpid()) - before[1]) / elapsed, 2),
        }
    finally:
        for bot in bots:
            if bot.returncode is None:
                bot.terminate()
            await bot.wait()
        await fake.stop()


async def taught_sync(database: str | Path, photos: int = 10) -> dict:
    """How far behind another process sees a label taught here: the poll's query, and the refit it triggers.

    A label taught in one process is used by another at most TAUGHT_SYNC_SECONDS plus `sync_ms` later.
    """
    from bot.pipeline import Pipeline
    from bot.teaching import GLOBAL, Teaching, parse_learn
    from inference.classifier import Classifier
    from inference.model_folder import DEFAULT_MODEL_DIR
    from storage import taught
    from storage.database import open_database
    from tests.conftest import tablecloth
    from trends.catalogue import Catalogue

    classifier = Classifier(DEFAULT_MODEL_DIR)
    here, there = await open_database(database), await open_database(database)
    try:
        teacher, other = Pipeline(classifier, here, Catalogue()), Teaching(there, classifier)
        await other.load()
        command = parse_learn("checked tablecloth #picnic")
        await teacher.teaching.start(GLOBAL, command, "bench")
        polls, syncs = [], []
        for seed in range(photos):
            await teacher.teaching.add(GLOBAL, command.name, tablecloth(seed), "bench")
            started = time.perf_counter()
            await taught.version(there)
            polls.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert await other.sync()
            syncs.append(time.perf_counter() - started)
        return {
            "database": "postgresql" if isinstance(database, str) else "sqlite",
            "poll_ms_median": round(1000 * statistics.median(polls), 2),
            "sync_ms_median": round(1000 * statistics.median(syncs), 1),
            "sync_ms_max": round(1000 * max(syncs), 1),
        }
    finally:
        await here.close()
        await there.close()
        await classifier.aclose()


async def run(args: argparse.Namespace) -> list[dict]:
    photos = telegram_photos(args.photos, args.photo_dir)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(await taught_sync(Path(folder) / "taught.sqlite3"))
        results.append(await measure(Path(folder) / "bot.sqlite3", 1, args, photos, Path(folder)))
        print(json.dumps(results[-1]), file=sys.stderr)
        if postgres.missing():
            print(f"skipping PostgreSQL: {postgres.missing()}", file=sys.stderr)
            return results
        with postgres.fresh_schema() as url:
            results.append(await taught_sync(url))
        for count in args.processes:
            with postgres.fresh_schema() as url:
                results.append(await measure(url, count, args, photos, Path(folder)))
            print(json.dumps(results[-1]), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--photo-dir", type=Path, default=FLOWERS_DEV)
    args = parser.parse_args()
    if "BENCH_POSTGRES_URL" in os.environ:
        postgres.URL = os.environ["BENCH_POSTGRES_URL"]
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
