"""The request log and the figures admins ask of it.

Each post answered (or refused) is one row, an album of several photos too: who asked (platform ids only),
a hash of the image — never the image —, what the model saw, what we
answered, how long each stage took, and how it ended.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from storage.database import DAY, Database, now, rows_of_values


@dataclass
class LoggedRequest:
    """One request as the pipeline saw it."""

    platform: str
    chat_id: str
    user_id: str
    outcome: str
    image_sha256: str | None = None
    labels: list[tuple[str, float]] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    model_version: str | None = None
    error: str | None = None
    photos: int = 1  # a post (an album) is one request


COLUMNS = (
    "created_at, platform, chat_id, user_id, image_sha256, labels, hashtags, latency_ms, total_ms, model_version,"
    " outcome, error, photos"
)
ROWS_PER_STATEMENT = 200  # 13 parameters a row: far below either engine's limit on one statement's


async def log_request(db: Database, request: LoggedRequest, at: float | None = None) -> None:
    await log_requests(db, [(request, now() if at is None else at)])


async def log_requests(db: Database, requests: list[tuple[LoggedRequest, float]]) -> None:
    """Rows (each with when it was asked) in one statement: all of them are written, or none."""
    marks, values = rows_of_values([_row(request, at) for request, at in requests])
    await db.write(f"INSERT INTO requests ({COLUMNS}) VALUES {marks}", values)


def _row(request: LoggedRequest, at: float) -> tuple:
    return (
        at,
        request.platform,
        str(request.chat_id),
        str(request.user_id),
        request.image_sha256,
        json.dumps([[name, round(score, 4)] for name, score in request.labels]),
        json.dumps(request.hashtags),
        json.dumps({k: round(v, 2) for k, v in request.latency_ms.items()}),
        round(sum(request.latency_ms.values()), 2),
        request.model_version,
        request.outcome,
        request.error,
        request.photos,
    )


async def record_gap(db: Database, dropped: int) -> None:
    """Note that `dropped` rows were lost (they could not wait any longer for the disk)."""
    await db.write("INSERT INTO log_gaps (at, dropped) VALUES (?, ?)", (now(), dropped))


async def dropped_rows(db: Database, days: float | None = None) -> int:
    """Request rows lost to a full disk, over the last `days` (or ever)."""
    since = now() - days * DAY if days is not None else 0.0
    rows = await db.execute_fetchall("SELECT coalesce(sum(dropped), 0) FROM log_gaps WHERE at >= ?", (since,))
    return int(rows[0][0])  # PostgreSQL sums BIGINTs as NUMERIC


async def delete_older_than(db: Database, days: float) -> int:
    """Data retention: drop request rows older than `days`; returns how many went."""
    return await db.write("DELETE FROM requests WHERE created_at < ?", (now() - days * DAY,))


@dataclass
class Stats:
    """What admins see of the request log, in /stats and on the web dashboard.

    `stage_latency` is (day, stage, p50, p95) of the answered requests' stages in milliseconds;
    `outcomes` counts every way requests ended, `errors` the ones that were not "ok".
    """

    per_day: list[tuple[str, str, int]]
    latency_ms: dict[str, float]
    top_labels: list[tuple[str, int]]
    top_tags: list[tuple[str, int]]
    errors: list[tuple[str, int]]
    stage_latency: list[tuple[str, str, float, float]] = field(default_factory=list)
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    dropped: int = 0


def _day(stamp: float) -> str:
    """The UTC date of a Unix time, as SQLite's date(x, 'unixepoch') gives it."""
    return time.strftime("%Y-%m-%d", time.gmtime(stamp))


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


async def request_stats(db: Database, days: float = 7, top: int = 10) -> Stats:
    """Requests per day and platform, latency percentiles, top labels and tags, errors, over `days`."""
    since = now() - days * DAY
    rows = [
        (total, label_json, tag_json, outcome, _day(created), stage_json, platform)
        for total, label_json, tag_json, outcome, created, stage_json, platform in await db.execute_fetchall(
            "SELECT total_ms, labels, hashtags, outcome, created_at, latency_ms, platform FROM requests"
            " WHERE created_at >= ?",
            (since,),
        )
    ]
    per_day = [(day, platform, n) for (day, platform), n in sorted(Counter((r[4], r[6]) for r in rows).items())]
    latencies = sorted(r[0] for r in rows if r[3] == "ok" and r[0] is not None)
    labels: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    stages: dict[tuple[str, str], list[float]] = {}
    for _, label_json, tag_json, outcome, day, stage_json, _ in rows:
        top_label = json.loads(label_json)[:1]
        labels.update(name for name, _ in top_label)
        tags.update(json.loads(tag_json))
        outcomes[outcome] += 1
        if outcome == "ok":
            for stage, ms in json.loads(stage_json or "{}").items():
                stages.setdefault((day, stage), []).append(ms)
    latency = {f"p{q}": _percentile(latencies, q) for q in (50, 95, 99)} if latencies else {}
    stage_latency = [
        (day, stage, _percentile(sorted(values), 50), _percentile(sorted(values), 95))
        for (day, stage), values in sorted(stages.items())
    ]

    def ranked(counter: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]

    errors = Counter({outcome: n for outcome, n in outcomes.items() if outcome != "ok"})
    return Stats(
        per_day,
        latency,
        ranked(labels),
        ranked(tags),
        ranked(errors),
        stage_latency,
        ranked(outcomes),
        await dropped_rows(db, days),
    )
