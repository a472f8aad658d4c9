"""How the bot's replies read, whatever the chat platform's markup: every platform says the same things."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from inference.scene import Scene
from storage.adapter_state import AdapterState
from storage.settings import MAX_TAG_COUNT, TAG_COUNT_RANGE, ChatSettings
from trends.composer import ChosenTag, ComposedTags
from trends.tiers import MEDIUM, MEGA, NICHE, ORDER, POPULAR, TINY, UNKNOWN

if TYPE_CHECKING:
    from bot.pipeline import Answer, Report

MB = 1024 * 1024  # as Telegram and Discord count their file limits ("20 MB" is 20 MiB)
TIER_NAMES = {
    MEGA: "mega",
    POPULAR: "popular",
    MEDIUM: "medium",
    NICHE: "niche",
    TINY: "small",
}


def subject_line(scene: Scene) -> str:
    """What the answer names, in words: 'a cat (tabby)', 'a group of people at the beach'; honest when unsure."""
    if scene.tentative:
        return f"{scene.line}: not sure, so these tags are for that"
    return scene.line if scene.sure else f"{scene.line}: here are broad tags"


def human_count(count: int) -> str:
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= limit:
            return f"{count / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(count)


def count_lines(tags: ComposedTags) -> list[str]:
    """'#daisy — 5.1M posts, popular' per tag; a count nobody has fetched is left out, never shown as '?'."""
    lines = []
    for t in tags.tags:
        known = [f"{human_count(t.media_count)} posts"] if t.media_count is not None else []
        known += [TIER_NAMES[t.tier]] if t.tier != UNKNOWN else []
        lines.append(f"#{t.tag}" + (f" — {', '.join(known)}" if known else ""))
    return lines


def note_lines(tags: ComposedTags, with_counts: bool) -> list[str]:
    """The lines under the tags: each tag's post count, or the short summary of their tiers."""
    if with_counts:
        return count_lines(tags)
    summary = tier_summary(tags.tags)
    return [summary] if summary else []


def tier_summary(tags: tuple[ChosenTag, ...]) -> str:
    """'2 medium, 2 niche, 1 popular', for a one-line note under the tags (tiers nobody knows yet left out)."""
    order = list(ORDER)
    counts: dict[str, int] = {}
    for t in tags:
        if t.tier != UNKNOWN:
            counts[t.tier] = counts.get(t.tier, 0) + 1
    return ", ".join(f"{n} {TIER_NAMES[tier]}" for tier, n in sorted(counts.items(), key=lambda x: order.index(x[0])))


APOLOGY = "Sorry, something went wrong. Please try again."


def too_big(size: int | None, limit: int) -> str | None:
    """The refusal for a file over `limit` bytes, None for one within it (or of unknown size)."""
    return too_big_text(size, limit) if size is not None and size > limit else None


def too_big_text(size: int | None, limit: int) -> str:
    """'That file is too big (20.1 MB; the limit is 20 MB).': the size rounded up and the limit down, so they differ."""
    shown_limit = f"{math.floor(limit / MB * 10) / 10:.1f}".removesuffix(".0")
    if size is None:
        return f"That file is too big (the limit is {shown_limit} MB)."
    return f"That file is too big ({math.ceil(size / MB * 10) / 10:.1f} MB; the limit is {shown_limit} MB)."


# How many tags an answer may have, as every platform tells its users.
TAG_COUNTS = f"1–{MAX_TAG_COUNT}"


def tag_count(value: str | int | None) -> int | None:
    """A number of tags an answer may have, from an option or what a user typed ("8"); None if it is not one."""
    if isinstance(value, str):
        value = int(value) if value.isascii() and value.isdigit() and len(value) <= 3 else None
    return value if value in TAG_COUNT_RANGE else None


def post_note(answer: Answer, names: list[str] | None = None) -> str:
    """What an answer for several photos covers: 'One set of tags for all 3 photos.', and which were skipped and why.

    Photos are called by `names` where the platform has them (Discord's file names), else 'photo 2'.
    Empty for a single photo.
    """
    if answer.photos == 1:
        return ""
    used = answer.photos - len(answer.skipped)
    lines = [f"One set of tags for all {used} photos." if used > 1 else "Tags for the one photo I could read."]
    for index, error in answer.skipped:
        name = f"“{names[index]}”" if names else f"Photo {index + 1}"
        lines.append(f"{name} skipped: {error.message}")
    return "\n".join(lines)


def quoted(text: str, limit: int = 40) -> str:
    """User text quoted in a reply, cut short so a 4000-character argument cannot make the reply too long."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def photo_count(count: int) -> str:
    """'1 photo', '3 photos'."""
    return f"{count} photo{'s' * (count != 1)}"


def settings_text(current: ChatSettings, default_count: int) -> str:
    """What /settings answers: the chat's number of tags and whether counts are shown."""
    return (
        f"Tags per photo: {current.tag_count or default_count}\nPost counts: {'on' if current.show_counts else 'off'}"
    )


def forgot_text(name: str, forgotten: bool, where: str = "") -> str:
    """The answer to /forget; `where` says whose labels were looked in (' in this server')."""
    return (
        f"Forgot “{quoted(name)}” and its photos."
        if forgotten
        else f"There is no taught label “{quoted(name)}”{where}. See /labels."
    )


def request_log_line(report: Report) -> str:
    """Rows waiting for disk space and rows lost to a full disk; empty when there are none."""
    lost = report.log_dropped + report.requests.dropped
    if not (report.log_waiting or lost):
        return ""
    return f"request log: {report.log_waiting} row(s) waiting for the disk, {lost} lost to a full disk"


def adapter_line(adapter: AdapterState) -> str:
    """'discord: NOT receiving: DISCORD_BOT_TOKEN was rejected by Discord (4004)': /stats, the dashboard, --check."""
    name = f"{adapter.name} ({adapter.process})" if adapter.shared else adapter.name
    if not adapter.current:
        return f"{name}: not running (last run: {adapter.detail})"
    return f"{name}: receiving" if adapter.receiving else f"{name}: NOT receiving: {adapter.detail}"


def stats_text(report: Report) -> str:
    """/stats for admins: requests per day, latency, top subjects and tags, errors, Instagram, taught labels."""
    stats, health = report.requests, report.instagram
    lines = ["Last 7 days"]
    lines += [f"{day} {platform}: {count}" for day, platform, count in stats.per_day] or ["no requests"]
    if stats.latency_ms:
        lines.append("latency " + ", ".join(f"{k} {v:.0f} ms" for k, v in stats.latency_ms.items()))
    lines.append("top subjects: " + (", ".join(f"{n} ({c})" for n, c in stats.top_labels) or "—"))
    lines.append("top tags: " + (", ".join(f"#{n} ({c})" for n, c in stats.top_tags) or "—"))
    lines.append("errors: " + (", ".join(f"{n} ({c})" for n, c in stats.errors) or "none"))
    if log_line := request_log_line(report):
        lines.append(log_line)
    lines.append(
        f"Instagram: {'paused' if health.paused else 'ok'}; failures in a row {health.failures}"
        + (f"; last error: {health.last_error}" if health.last_error else "")
    )
    if report.searches:
        lines.append("last searches: " + ", ".join(query for query, _, _ in report.searches[:5]))
    lines.append(f"taught labels: {len(report.taught)}")
    lines += [adapter_line(adapter) for adapter in report.adapters]
    return "\n".join(lines)
