"""Raw per-request samples -> the load summary and its SLO gate.

Locust's own percentiles are rounded to two significant digits, and with `stream=True` its
response time is only time-to-headers, so every figure here is computed from the raw samples
the locustfile records (one dict per request, see `loadtest.locustfile.sample_of`).
"""

from __future__ import annotations

import math
from typing import Any

from policies.gates import LoadGates

PERCENTILES = (50, 95, 99)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution_ms(values_s: list[float]) -> dict[str, float | int | None]:
    values = [v * 1000 for v in values_s]
    stats: dict[str, float | int | None] = {f"p{q}": percentile(values, q) for q in PERCENTILES}
    stats["mean"] = sum(values) / len(values) if values else None
    stats["max"] = max(values) if values else None
    stats["n"] = len(values)
    return stats


def meets_slo(sample: dict[str, Any], gates: LoadGates) -> bool:
    """One request's contribution to goodput: answered, and within every latency SLO."""
    if sample["error"] is not None or sample["ttft_s"] is None:
        return False
    itl = sample["itl_s"]
    mean_itl_ms = 1000 * sum(itl) / len(itl) if itl else 0.0
    return (
        sample["ttft_s"] * 1000 <= gates.ttft_p95_ms
        and sample["e2e_s"] * 1000 <= gates.e2e_p95_ms
        and mean_itl_ms <= gates.itl_p95_ms
    )


def ignore_eos_of(samples: list[dict[str, Any]], default: bool) -> bool:
    """The mode the samples were recorded in (the locustfile stamps it), else `default`."""
    recorded = {s["ignore_eos"] for s in samples if "ignore_eos" in s}
    return recorded.pop() if len(recorded) == 1 else default


def summarize(
    samples: list[dict[str, Any]], gates: LoadGates, ignore_eos: bool = False
) -> dict[str, Any]:
    """Latency distributions, throughput, error/truncation rates and goodput of one run.

    With `ignore_eos` every answer runs to max_tokens by design: its finish_reason `length` is
    still counted, but the truncation rate is not gated (`truncation_gated`).
    """
    ok = [s for s in samples if s["error"] is None]
    errors = [s for s in samples if s["error"] is not None]
    truncated = [s for s in ok if s["finish_reason"] == "length"]
    good = [s for s in ok if meets_slo(s, gates)]
    # The measured window runs from the first request sent to the last response finished.
    window = (
        max(s["t_start"] + s["e2e_s"] for s in samples) - min(s["t_start"] for s in samples)
        if samples
        else 0.0
    )
    tokens = sum(s["output_tokens"] for s in ok)
    good_tokens = sum(s["output_tokens"] for s in good)
    n = len(samples)

    def rate(count: float) -> float:
        return count / window if window > 0 else 0.0

    return {
        "requests": n,
        "ok_requests": len(ok),
        "errors": len(errors),
        "error_rate": len(errors) / n if n else 0.0,
        "ignore_eos": ignore_eos,
        "truncations": len(truncated),
        "truncation_rate": len(truncated) / len(ok) if ok else 0.0,
        "truncation_gated": not ignore_eos,
        "window_s": window,
        "requests_per_s": rate(len(ok)),
        "output_tokens": tokens,
        "output_tokens_per_s": rate(tokens),
        "usage_reported_fraction": (sum(s["usage_reported"] for s in ok) / len(ok)) if ok else 0.0,
        "ttft_ms": distribution_ms([s["ttft_s"] for s in ok if s["ttft_s"] is not None]),
        # Per token (gated); per chunk as vLLM's benchmark client counts (see loadtest/sse.py).
        "itl_ms": distribution_ms([gap for s in ok for gap in s["itl_s"]]),
        "chunk_itl_ms": distribution_ms([gap for s in ok for gap in s.get("chunk_itl_s", [])]),
        "e2e_ms": distribution_ms([s["e2e_s"] for s in ok]),
        "output_tokens_per_request": (tokens / len(ok)) if ok else 0.0,
        "goodput": {
            "requests": len(good),
            "fraction": len(good) / n if n else 0.0,
            "requests_per_s": rate(len(good)),
            "output_tokens_per_s": rate(good_tokens),
        },
        "error_examples": sorted({s["error"] for s in errors})[:5],
    }


def _check(name: str, value: float | None, limit: float, *, at_least: bool = False) -> dict:
    passed = value is not None and (value >= limit if at_least else value <= limit)
    return {"name": name, "value": value, "limit": limit, "passed": passed}


def gate(summary: dict[str, Any], gates: LoadGates) -> dict[str, Any]:
    """The SLO verdict, with every check, its measured value and the threshold applied."""
    checks = [
        _check("requests", summary["requests"], gates.min_requests, at_least=True),
        _check("ttft_p95_ms", summary["ttft_ms"]["p95"], gates.ttft_p95_ms),
        _check("itl_p95_ms", summary["itl_ms"]["p95"], gates.itl_p95_ms),
        _check("e2e_p95_ms", summary["e2e_ms"]["p95"], gates.e2e_p95_ms),
        _check("error_rate", summary["error_rate"], gates.max_error_rate),
        _check("truncation_rate", summary["truncation_rate"], gates.max_truncation_rate),
    ]
    # A run with a single token per answer has no inter-token gaps: nothing to hold against it.
    if summary["itl_ms"]["n"] == 0 and summary["ok_requests"] > 0:
        checks[2] = {**checks[2], "passed": True, "note": "no inter-token gaps (1-token answers)"}
    if not summary.get("truncation_gated", True):
        note = "not gated: ignore_eos runs to max_tokens"
        checks[5] = {**checks[5], "passed": True, "note": note}
    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "failed": [c["name"] for c in checks if not c["passed"]],
    }


def cpu_verdict(cpu_percent: list[float], warn_at: float, fail_at: float) -> dict[str, Any]:
    """Is the load generator itself the bottleneck? Percent of one core per Locust process."""
    if not cpu_percent:
        return {"status": "unknown", "mean": None, "p95": None, "max": None}
    mean = sum(cpu_percent) / len(cpu_percent)
    p95 = percentile(cpu_percent, 95)
    status = "saturated" if mean >= fail_at else "warn" if p95 >= warn_at else "ok"  # type: ignore[operator]
    return {
        "status": status,
        "mean": mean,
        "p95": p95,
        "max": max(cpu_percent),
        "warn_at": warn_at,
        "fail_at": fail_at,
        "samples": len(cpu_percent),
    }
