"""The knee curve as an SVG: rate vs TTFT p95, ITL p95 and goodput, SLO lines dashed.

Plain SVG text rather than matplotlib: the loadtest environment (and its image) does not carry
matplotlib, and three line charts do not justify it. Browsers, GitHub and the HTML report show
SVG as it is.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, PANEL_HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 190, 70, 20, 30, 40


def _panel(
    points: list[tuple[float, float | None, bool]],
    title: str,
    unit: str,
    y_line: tuple[float, str] | None,
    x_max: float,
    top: float,
) -> list[str]:
    values = [y for _, y, _ in points if y is not None]
    y_max = max([*values, y_line[0] if y_line else 0.0, 1e-9]) * 1.1
    width, height = WIDTH - LEFT - RIGHT, PANEL_HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return LEFT + width * value / x_max

    def y(value: float) -> float:
        return top + TOP + height * (1 - value / y_max)

    base = top + TOP + height
    parts = [
        f'<text x="{LEFT}" y="{top + 18}" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + width}" y2="{base}" stroke="#444"/>',
        f'<line x1="{LEFT}" y1="{top + TOP}" x2="{LEFT}" y2="{base}" stroke="#444"/>',
        f'<text x="{LEFT - 6}" y="{top + TOP + 4}" text-anchor="end">{y_max:.3g}</text>',
        f'<text x="{LEFT - 6}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{LEFT - 6}" y="{top + TOP + height / 2}" text-anchor="end">'
        f"{escape(unit)}</text>",
        f'<text x="{LEFT + width}" y="{base + 16}" text-anchor="end">{x_max:.3g} req/s</text>',
        f'<text x="{LEFT}" y="{base + 16}">0</text>',
    ]
    if y_line:
        level, label = y_line
        parts.append(
            f'<line x1="{LEFT}" y1="{y(level)}" x2="{LEFT + width}" y2="{y(level)}" '
            f'stroke="#c00" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + width}" y="{y(level) - 4}" text-anchor="end" fill="#c00">'
            f"{escape(label)}</text>"
        )
    line = [(x(r), y(v)) for r, v, _ in points if v is not None]
    if len(line) > 1:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in line)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#36c"/>')
    for rate, value, passed in points:
        if value is not None:
            colour = "#2a2" if passed else "#c00"
            parts.append(f'<circle cx="{x(rate):.1f}" cy="{y(value):.1f}" r="4" fill="{colour}"/>')
    return parts


def knee_svg(curve: list[dict[str, Any]], slo: dict[str, float], knee: float | None) -> str:
    """One SVG, three panels; a point per run (green: every SLO met, red: not)."""
    ordered = sorted(curve, key=lambda row: row["rate"])
    x_max = max([row["rate"] for row in ordered] + [1e-9]) * 1.05

    def series(key: str) -> list[tuple[float, float | None, bool]]:
        return [(row["rate"], row[key], row["passed"]) for row in ordered]

    rate_line = (knee, f"knee {knee:.3g} req/s") if knee else None
    panels = [
        ("TTFT p95", "ms", "ttft_p95_ms", (slo["ttft_p95_ms"], "SLO")),
        ("Inter-token latency p95", "ms", "itl_p95_ms", (slo["itl_p95_ms"], "SLO")),
        ("Goodput (requests within every SLO)", "req/s", "goodput_requests_per_s", rate_line),
    ]
    height = PANEL_HEIGHT * len(panels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
    ]
    for number, (title, unit, key, y_line) in enumerate(panels):
        parts += _panel(series(key), title, unit, y_line, x_max, number * PANEL_HEIGHT)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
