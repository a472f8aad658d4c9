"""Small SVG charts drawn on the server: the dashboard needs no script library and no network.

Each chart is one self-contained `<svg>` with a title for screen readers,
its axis's largest value written out, and a legend; colours come from one
palette that stays apart for people with the common colour-vision deficiencies.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 48, 44, 16


def _frame(title: str, body: list[str], legend: list[str]) -> str:
    keys = "".join(
        f'<rect x="{LEFT + 120 * i}" y="{HEIGHT + 8}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
        f'<text x="{LEFT + 120 * i + 14}" y="{HEIGHT + 17}" font-size="11">{escape(name)}</text>'
        for i, name in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 24}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>' + "".join(body) + keys + "</svg>"
    )


def _axes(top: float, unit: str, categories: list[str]) -> list[str]:
    plot_bottom = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{plot_bottom}" x2="{WIDTH - 8}" y2="{plot_bottom}" stroke="#888"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="11" text-anchor="end">{top:g}{escape(unit)}</text>',
        f'<text x="{LEFT - 6}" y="{plot_bottom}" font-size="11" text-anchor="end">0</text>',
    ]
    step = (WIDTH - 8 - LEFT) / max(len(categories), 1)
    every = max(1, len(categories) // 8)
    for i, name in enumerate(categories):
        if i % every == 0:
            x = LEFT + step * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{plot_bottom + 16}" font-size="11" text-anchor="middle">{escape(name)}</text>'
            )
    return parts


def _nice(value: float) -> float:
    """The axis top: the value rounded up to 1, 2 or 5 × a power of ten."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def stacked_bars(title: str, categories: list[str], series: dict[str, list[float]], unit: str = "") -> str:
    """One bar per category, stacked by series (requests per day, by platform)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = _nice(max(totals, default=0))
    plot_height = HEIGHT - BOTTOM - TOP
    step = (WIDTH - 8 - LEFT) / max(len(categories), 1)
    body = _axes(top, unit, categories)
    for i in range(len(categories)):
        y = HEIGHT - BOTTOM
        for k, (name, values) in enumerate(series.items()):
            h = plot_height * values[i] / top
            y -= h
            body.append(
                f'<rect x="{LEFT + step * i + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(name)} '
                f"{escape(categories[i])}: {values[i]:g}{escape(unit)}</title></rect>"
            )
    return _frame(title, body, list(series))


def lines(title: str, categories: list[str], series: dict[str, list[float | None]], unit: str = "") -> str:
    """One line per series over the categories (a stage's latency per day); gaps where a value is missing."""
    top = _nice(max((v for values in series.values() for v in values if v is not None), default=0))
    plot_height = HEIGHT - BOTTOM - TOP
    step = (WIDTH - 8 - LEFT) / max(len(categories), 1)
    body = _axes(top, unit, categories)
    for k, (name, values) in enumerate(series.items()):
        points = [
            (LEFT + step * (i + 0.5), HEIGHT - BOTTOM - plot_height * v / top)
            for i, v in enumerate(values)
            if v is not None
        ]
        colour = PALETTE[k % len(PALETTE)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}</title></circle>'
            for x, y in points
        ]
    return _frame(title, body, list(series))


def horizontal_bars(title: str, items: list[tuple[str, float]], unit: str = "") -> str:
    """Ranked counts (top subjects, outcomes) as labelled horizontal bars."""
    top = _nice(max((v for _, v in items), default=0))
    row, label_width = 20, 150
    height = max(row * len(items), row) + 8
    body = []
    for i, (name, value) in enumerate(items):
        w = (WIDTH - label_width - 60) * value / top
        y = 4 + row * i
        body.append(
            f'<text x="{label_width - 6}" y="{y + 13}" font-size="12" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_width + w + 4:.1f}" y="{y + 13}" font-size="12">{value:g}{escape(unit)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )
