"""The admins' dashboard: the same report as /stats, drawn as charts and tables (HTML with inline SVG)."""

from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING

from bot.render import adapter_line, request_log_line
from bot.web.charts import horizontal_bars, lines, stacked_bars

if TYPE_CHECKING:
    from bot.pipeline import Report

STAGES = ("download", "decode", "inference", "compose", "send")


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "never"


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p class='empty'>{escape(empty)}</p>"
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_dashboard(report: Report) -> str:
    """The dashboard's sections, for the page to show; every figure from `Pipeline.report`."""
    stats, health = report.requests, report.instagram
    days = sorted({day for day, _, _ in stats.per_day})
    platforms = sorted({platform for _, platform, _ in stats.per_day})
    per_day = {p: [0.0] * len(days) for p in platforms}
    for day, platform, count in stats.per_day:
        per_day[platform][days.index(day)] = count
    stage_days = sorted({day for day, _, _, _ in stats.stage_latency})
    p50: dict[str, list[float | None]] = {}
    p95: dict[str, list[float | None]] = {}
    for day, stage, median, high in stats.stage_latency:
        p50.setdefault(stage, [None] * len(stage_days))[stage_days.index(day)] = round(median, 1)
        p95.setdefault(stage, [None] * len(stage_days))[stage_days.index(day)] = round(high, 1)
    order = [s for s in STAGES if s in p50] + sorted(set(p50) - set(STAGES))
    paused = f"paused until {_when(health.pause_until)}" if health.paused else "running"
    sections = [
        "<section><h2>Requests per day</h2>"
        + (
            stacked_bars("Requests per day by platform", days, per_day)
            if days
            else "<p class='empty'>No requests yet.</p>"
        )
        + "</section>",
        "<section><h2>Latency per stage (median per day)</h2>"
        + (lines("Median latency per stage", stage_days, {s: p50[s] for s in order}, " ms") if order else "")
        + "<h3>95th percentile</h3>"
        + (lines("95th percentile latency per stage", stage_days, {s: p95[s] for s in order}, " ms") if order else "")
        + "<p>All requests answered, overall: "
        + (", ".join(f"{k} {v:.0f} ms" for k, v in stats.latency_ms.items()) or "none yet")
        + "</p></section>",
        "<section><h2>Outcomes</h2>"
        + (horizontal_bars("Outcomes", [(n, float(c)) for n, c in stats.outcomes]) if stats.outcomes else "")
        + _table(["error", "count"], [[n, str(c)] for n, c in stats.errors], "No errors.")
        + "</section>",
        "<section><h2>Top subjects</h2>"
        + (horizontal_bars("Top subjects", [(n, float(c)) for n, c in stats.top_labels]) if stats.top_labels else "")
        + "<h2>Top tags</h2>"
        + _table(["tag", "answers"], [[f"#{n}", str(c)] for n, c in stats.top_tags], "No tags yet.")
        + "</section>",
        "<section><h2>Instagram</h2>"
        + _table(
            ["state", "last success", "failures in a row", "last error"],
            [[paused, _when(health.last_success), str(health.failures), health.last_error or "—"]],
            "",
        )
        + "<h3>Last searches</h3>"
        + _table(
            ["search", "when", "related tags"],
            [[query, _when(at), str(n)] for query, at, n in report.searches],
            "No searches yet (without INSTAGRAM_SESSION_FILE the bot uses its catalogue only).",
        )
        + "</section>",
        "<section><h2>Chat platforms</h2>"
        + _table(
            ["platform", "state", "since"],
            [[a.name, adapter_line(a).partition(": ")[2], _when(a.at)] for a in report.adapters],
            "No chat platform has run yet.",
        )
        + (f"<p>{escape(log_line)}</p>" if (log_line := request_log_line(report)) else "")
        + "</section>",
        "<section><h2>Taught labels</h2>"
        + _table(
            ["label", "where", "photos", "tags"],
            [[t.name, t.scope, str(t.examples), " ".join(f"#{x}" for x in t.tags)] for t in report.taught],
            "No labels taught yet.",
        )
        + "</section>",
    ]
    return "\n".join(sections)
