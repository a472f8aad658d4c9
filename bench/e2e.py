"""End-to-end benchmark: the real runner (`python -m bot`, both adapters) against the local fakes.

    .venv/bin/python -m bench.e2e [--duration 30] [--users 1 10 100] [--discord 50]

The bot runs in its own process with a warm trend cache; this process plays
Telegram (the fake Bot API, tests/fake_telegram.py) and Discord (the fake
gateway, tests/fake_discord.py) and simulated users. Each Telegram user
sends a Telegram-size photo, waits for the answer, and sends the next one
(closed loop). Latency is "update delivered to the bot by getUpdates" →
"sendMessage received". Prints JSON; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.serving import FLOWERS_DEV
from bot.config import Config
from inference.classifier import Classifier
from inference.decode import decode_photo
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.scene import describe
from storage import trend_store
from storage.database import open_database
from tests.support.fake_discord import TOKEN as DISCORD_TOKEN
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import TOKEN as TELEGRAM_TOKEN
from tests.support.fake_telegram import FakeTelegram
from trends.catalogue import Catalogue
from trends.composer import candidate_queries, candidates

ROOT = Path(__file__).resolve().parent.parent
TELEGRAM_SIZES = ((90, 67), (320, 240), (1280, 960))


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = sorted(v * 1000 for v in values)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"p50_ms": statistics.median(ms), "p95_ms": cuts[94], "p99_ms": cuts[98], "max_ms": ms[-1]}


def telegram_photos(count: int, folder: Path = FLOWERS_DEV) -> list[list[tuple[int, int, bytes]]]:
    """Photos of varied content, each in Telegram's three renditions (JPEG q85)."""
    files = sorted(folder.rglob("*.jpg"))[:count] if folder.is_dir() else []
    rng = np.random.default_rng(0)
    sources = [Image.open(f).convert("RGB") for f in files] or [
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).resize((640, 480)) for _ in range(count)
    ]
    photos = []
    for source in sources:
        renditions = []
        for width, height in TELEGRAM_SIZES:
            buffer = io.BytesIO()
            source.resize((width, height), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=85)
            renditions.append((width, height, buffer.getvalue()))
        photos.append(renditions)
    return photos


async def warm_cache(database: Path, photos: list[list[tuple[int, int, bytes]]]) -> None:
    """Searches and counts for every label the photos will produce, as a long-running bot would have."""
    classifier = Classifier(DEFAULT_MODEL_DIR)
    db = await open_database(database)
    try:
        catalogue = Catalogue()
        rng = np.random.default_rng(1)
        for renditions in photos:
            image, whole = decode_photo(renditions[1][2], whole_side=classifier.people.side)
            scene = describe(classifier.predict(image[None], [whole])[0], classifier.subject_tree)
            related = {query: [query, f"{query}lovers", f"{query}photography"] for query in candidate_queries(scene)}
            for query, tags in related.items():
                await trend_store.save_search(db, query, tags)
            tags = {candidate.tag for candidate in candidates(scene, catalogue, related)}
            await trend_store.save_counts(db, {tag: int(10 ** rng.uniform(3.5, 8)) for tag in sorted(tags)})
        await db.write("DELETE FROM pending_queries")
    finally:
        await db.close()
        await classifier.aclose()


async def telegram_level(fake: FakeTelegram, photos, users: int, duration: float, first_user: int) -> dict:
    latencies: list[float] = []
    errors = lost = 0
    end = time.monotonic() + duration

    async def user(uid: int) -> None:
        nonlocal errors, lost
        turn = uid
        while time.monotonic() < end:
            before = len(fake.replies_to(uid))
            update_id = await fake.push(fake.photo_message(uid, b"", renditions=photos[turn % len(photos)]))
            turn += users
            try:
                await fake.wait_for(lambda uid=uid, before=before: len(fake.replies_to(uid)) > before, timeout=30)
            except TimeoutError:
                lost += 1
                continue
            reply = fake.replies_to(uid)[before]
            latencies.append(reply["received_at"] - fake.delivered_at[update_id])
            if "#" not in reply["text"]:
                errors += 1

    started = time.monotonic()
    calls_before = len(fake.calls)
    await asyncio.gather(*(user(first_user + i) for i in range(users)))
    elapsed = time.monotonic() - started
    return {
        "users": users,
        "replies": len(latencies),
        "replies_per_s": len(latencies) / elapsed,
        "errors": errors,
        "lost": lost,
        "rejected_by_api": len(fake.rejected),
        # "typing…" shown: one more Bot API call, made only for answers slower than TYPING_DELAY_SECONDS.
        "chat_actions": sum(method == "sendChatAction" for method, _ in fake.calls[calls_before:]),
        **percentiles(latencies),
    }


async def discord_burst(fake: FakeDiscord, photos, count: int) -> dict:
    started = asyncio.get_running_loop().time()
    interactions = []
    for i in range(count):
        attachment = fake.attachment(photos[i % len(photos)][2][2])
        option = {"name": "image", "type": 11, "value": attachment["id"]}
        interactions.append(await fake.slash(3000 + i, "hashtags", [option], [attachment]))
    await fake.wait_for(lambda: all(fake.responses_to(i)[1] for i in interactions), timeout=120)
    deferrals = [fake.responses_to(i)[0][0]["at"] - started for i in interactions]
    return {
        "commands": count,
        "followed_up": sum(bool(fake.responses_to(i)[1]) for i in interactions),
        "deferred_within_3s": sum(d < 3.0 for d in deferrals),
        "defer": percentiles(deferrals),
        "rejected_by_api": len(fake.rejected),
    }


def stage_breakdown(database: Path, since: float) -> dict[str, dict[str, float]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT latency_ms FROM requests WHERE created_at >= ? AND platform = 'telegram'", (since,)
        ).fetchall()
    stages: dict[str, list[float]] = {}
    for (text,) in rows:
        for stage, ms in json.loads(text).items():
            stages.setdefault(stage, []).append(ms)
    return {stage: {"p50_ms": statistics.median(v), "mean_ms": statistics.fmean(v)} for stage, v in stages.items()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


async def storage_rate(writers: int, per_writer: int) -> dict:
    """Logged requests/s with `writers` concurrent writers on one connection, none lost."""
    from storage.request_log import LoggedRequest, log_request

    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.sqlite3")
        try:

            async def writer(w: int) -> None:
                for i in range(per_writer):
                    await log_request(
                        db,
                        LoggedRequest(
                            "telegram",
                            str(w),
                            str(i),
                            "ok",
                            labels=[("daisy", 0.9)],
                            hashtags=["daisy"],
                            latency_ms={"decode": 1.0},
                        ),
                    )

            started = time.perf_counter()
            await asyncio.gather(*(writer(w) for w in range(writers)))
            elapsed = time.perf_counter() - started
            stored = (await db.execute_fetchall("SELECT count(*) FROM requests"))[0][0]
        finally:
            await db.close()
    return {"writers": writers, "rows": stored, "lost": writers * per_writer - stored, "rows_per_s": stored / elapsed}


async def run(args: argparse.Namespace) -> dict:
    photos = telegram_photos(args.photos, args.photo_dir)
    results: dict = {"photos": len(photos), "from": str(args.photo_dir), "duration_s": args.duration}
    telegram, discord_fake = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord_fake.start()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bot.sqlite3"
        await warm_cache(database, photos)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_PATH=str(database),
            LOG_LEVEL="WARNING",
            FLOOD_PHOTOS="100000",
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_API_BASE_URL=telegram.base_url,
            TELEGRAM_FILE_BASE_URL=telegram.file_base_url,
            DISCORD_BOT_TOKEN=DISCORD_TOKEN,
            DISCORD_API_BASE_URL=discord_fake.api_url,
            DISCORD_SHARDED="1",
            TELEGRAM_MAX_MESSAGES_PER_SECOND=str(args.telegram_rate),
            TELEGRAM_CONCURRENT_UPDATES=str(args.concurrency),
            TELEGRAM_POLL_TIMEOUT_SECONDS="1",  # the stop at the end waits for the poll in flight
        )
        started = time.monotonic()
        bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=folder, env=env)
        try:
            await telegram.push(telegram.photo_message(1, b"", renditions=photos[0]))
            await telegram.wait_for(lambda: telegram.replies_to(1), timeout=120)
            results["startup_to_first_reply_s"] = time.monotonic() - started
            await asyncio.wait_for(discord_fake.identified.wait(), 60)
            results["telegram"] = []
            for level, users in enumerate(args.users):
                since = time.time()
                cpu_before = (cpu_seconds(bot.pid), cpu_seconds(os.getpid()))
                figures = await telegram_level(telegram, photos, users, args.duration, 10_000 * (level + 1))
                elapsed = time.time() - since
                figures["cpu_cores_used"] = {
                    "bot": (cpu_seconds(bot.pid) - cpu_before[0]) / elapsed,
                    "load_generator_and_fakes": (cpu_seconds(os.getpid()) - cpu_before[1]) / elapsed,
                }
                # The bot's CPU seconds over its replies: what one reply costs, whatever the load.
                figures["cpu_ms_per_reply"] = (cpu_seconds(bot.pid) - cpu_before[0]) * 1000 / max(figures["replies"], 1)
                await asyncio.sleep(1)  # let the bot's background log writes land before reading them
                figures["stages"] = stage_breakdown(database, since)
                results["telegram"].append(figures)
                print(json.dumps(figures), file=sys.stderr)
            results["peak_rss_mb_after_telegram_load"] = peak_rss_mb(bot.pid)
            if args.discord:
                results["discord"] = await discord_burst(discord_fake, photos, args.discord)
            results["peak_rss_mb"] = peak_rss_mb(bot.pid)
            results["imports_tensorflow"] = "tensorflow" in Path(f"/proc/{bot.pid}/maps").read_text()
        finally:
            bot.terminate()
            await bot.wait()
            await telegram.stop()
            await discord_fake.stop()
    results["storage"] = await storage_rate(100, 50)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per Telegram load level")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--discord", type=int, default=50, help="concurrent /hashtags commands")
    parser.add_argument("--photos", type=int, default=40, help="distinct photos to send")
    parser.add_argument(
        "--photo-dir", type=Path, default=FLOWERS_DEV, help="where the photos come from (coco128: everyday photos)"
    )
    parser.add_argument(
        "--telegram-rate", type=float, default=30.0, help="the bot's Bot API send limit (Telegram allows ~30/s)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Config.telegram_concurrency,
        help="TELEGRAM_CONCURRENT_UPDATES for the bot (256 is python-telegram-bot's 'unbounded')",
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
