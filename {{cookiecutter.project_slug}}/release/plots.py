"""The report's plots, drawn offline with matplotlib (Agg) and returned as base64 PNG.

Each function returns None when the evidence it needs is not there, so the report can say the
plot is missing instead of drawing an empty or made-up chart.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BLUE, ORANGE, GREY, RED, GREEN = "#2563eb", "#ea580c", "#6b7280", "#dc2626", "#16a34a"
plt.rcParams.update(
    {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "bold",
        "axes.titlesize": 10,
        "figure.dpi": 110,
    }
)

_PERCENTILES = ("p50", "p90", "p95", "p99")
_LATENCIES = (
    ("ttft", "Time to first token"),
    ("itl", "Inter-token latency"),
    ("e2e", "End-to-end latency"),
)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _percentiles(summary: dict[str, Any], metric: str) -> dict[str, float]:
    """{'p50': ms, ...} for ttft/itl/e2e from a load summary (`ttft_ms: {p50: ..}` or `ttft`)."""
    for key in (f"{metric}_ms", metric):
        block = summary.get(key)
        if isinstance(block, dict):
            found = {p: _num(block.get(p)) for p in _PERCENTILES}
            return {p: v for p, v in found.items() if v is not None}
    return {}


def _locust_curves(load_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """Percentile curves of the custom TTFT/ITL/E2E events from Locust's *_stats.csv, if any."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for stats in sorted(load_dir.glob("*_stats.csv")):
        with stats.open() as handle:
            for row in csv.DictReader(handle):
                name = (row.get("Name") or "").lower()
                metric = next((m for m, _ in _LATENCIES if m in name.replace("-", "_")), None)
                if metric is None or metric in curves:
                    continue
                points = []
                for column, value in row.items():
                    if column and column.endswith("%") and value not in (None, "", "N/A"):
                        try:
                            points.append((float(column.rstrip("%")), float(value)))
                        except ValueError:
                            continue
                if points:
                    curves[metric] = sorted(points)
    return curves


def latency_plot(
    load: dict[str, Any] | None,
    load_dir: Path,
    canary_sides: dict[str, dict[str, Any]] | None = None,
) -> str | None:
    """Latency percentiles per metric: the load test, plus stable vs canary at the last step."""
    series: list[tuple[str, dict[str, Any], str]] = []
    if load:
        series.append(("load test", load, BLUE))
    for (side, doc), colour in zip((canary_sides or {}).items(), (GREY, ORANGE), strict=False):
        series.append((f"canary step: {side}", doc, colour))
    curves = _locust_curves(load_dir) if load_dir.exists() else {}
    metrics = [
        (m, t)
        for m, t in _LATENCIES
        if any(_percentiles(doc, m) for _, doc, _ in series) or m in curves
    ]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
    for ax, (metric, title) in zip(axes[0], metrics, strict=True):
        if metric in curves:
            xs, ys = zip(*curves[metric], strict=True)
            ax.plot(xs, ys, color=BLUE, marker=".", label="load test (Locust)")
        for label, doc, colour in series:
            points = _percentiles(doc, metric)
            if points and not (metric in curves and label == "load test"):
                ax.plot(
                    [float(p[1:]) for p in points],
                    list(points.values()),
                    marker="o",
                    color=colour,
                    label=label,
                )
        ax.set_title(title)
        ax.set_xlabel("percentile")
        ax.set_ylabel("ms")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def throughput_plot(rows: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Requests/s and output tokens/s for each measured server (load test, stable, canary)."""

    def pick(doc: dict[str, Any], *names: str) -> float | None:
        return next((_num(doc[n]) for n in names if _num(doc.get(n)) is not None), None)

    data = [
        (
            label,
            pick(doc, "requests_per_s", "requests_per_second", "rps"),
            pick(doc, "output_tokens_per_s", "output_tokens_per_second", "tokens_per_s"),
        )
        for label, doc in rows
    ]
    data = [row for row in data if row[1] is not None or row[2] is not None]
    if not data:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6))
    labels = [row[0] for row in data]
    colours = [BLUE, GREY, ORANGE][: len(labels)] + [BLUE] * max(0, len(labels) - 3)
    for ax, index, title in ((axes[0], 1, "Requests / s"), (axes[1], 2, "Output tokens / s")):
        values = [row[index] or 0 for row in data]
        bars = ax.barh(labels, values, color=colours)
        ax.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
        ax.set_title(title)
        ax.invert_yaxis()
        ax.margins(x=0.25)
    return _png(fig)


def eval_plot(compare: dict[str, Any] | None, summary: dict[str, Any] | None) -> str | None:
    """Per-metric delta (head - base) with its confidence interval; else absolute scores."""
    rows = []
    inner = (compare or {}).get("comparison")
    metrics = (inner if isinstance(inner, dict) else compare or {}).get("metrics")
    if isinstance(metrics, list):
        metrics = {
            row.get("metric", row.get("name", "?")): row for row in metrics if isinstance(row, dict)
        }
    if isinstance(metrics, dict):
        for name, row in sorted(metrics.items()):
            if isinstance(row, dict) and _num(row.get("delta")) is not None:
                low, high = _num(row.get("ci_low")), _num(row.get("ci_high"))
                rows.append((name, _num(row["delta"]), low, high))
    if rows:
        fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(rows)))
        names = [r[0] for r in rows]
        deltas = [r[1] for r in rows]
        errors = [
            [max(0.0, r[1] - (r[2] if r[2] is not None else r[1])) for r in rows],
            [max(0.0, (r[3] if r[3] is not None else r[1]) - r[1]) for r in rows],
        ]
        colours = [GREEN if d >= 0 else RED for d in deltas]
        ax.barh(names, deltas, xerr=errors, color=colours, capsize=3, alpha=0.85)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title("Eval deltas, head - base (bars: 95 % CI)")
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        return _png(fig)
    scores = (summary or {}).get("metrics")
    if not isinstance(scores, dict):
        return None
    values = []
    for name, value in sorted(scores.items()):
        score = (
            _num(value.get("mean", value.get("score"))) if isinstance(value, dict) else _num(value)
        )
        if score is not None:
            values.append((name, score))
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(values)))
    bars = ax.barh([v[0] for v in values], [v[1] for v in values], color=BLUE)
    ax.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_title("Eval scores (no base run to compare)")
    ax.invert_yaxis()
    return _png(fig)


def cost_plot(cost: dict[str, Any] | None) -> str | None:
    """Monthly cost per node pool (at minimum and at maximum nodes) and the cluster fee."""
    if not cost:
        return None
    priced = cost.get("cost") if isinstance(cost.get("cost"), dict) else cost
    rows: list[tuple[str, float, float]] = []
    for item in priced.get("pools") or priced.get("items") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name") or item.get("pool") or "?")
        high = _num(item.get("monthly_max", item.get("monthly_usd")))
        low = _num(item.get("monthly_min", high))
        if high is not None:
            rows.append((name, low if low is not None else high, high))
    fee = _num(priced.get("cluster_fee_hourly"))
    if rows and fee is not None:
        rows.append(("cluster fee", fee * 730, fee * 730))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.45 * len(rows)))
    names = [r[0] for r in rows]
    ax.barh(names, [r[1] for r in rows], color=ORANGE, label="at minimum nodes")
    ax.barh(
        names,
        [r[2] - r[1] for r in rows],
        left=[r[1] for r in rows],
        color=ORANGE,
        alpha=0.35,
        label="up to maximum nodes",
    )
    for y, (_, low, high) in enumerate(rows):
        # "\$": a bare dollar sign starts matplotlib's math mode.
        label = f"\\${high:,.0f}" if low == high else f"\\${low:,.0f} - \\${high:,.0f}"
        ax.text(high, y, f" {label}", va="center", fontsize=8)
    ax.set_title("Monthly cost (USD, dated price tables)")
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _png(fig)
