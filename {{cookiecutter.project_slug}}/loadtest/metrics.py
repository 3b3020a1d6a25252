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


def due_at(record: dict[str, Any]) -> float:
    """When a request was due: its arrival time (open loop, dropped ones too), else its send."""
    return record["scheduled_at"] if "scheduled_at" in record else record["t_start"]


def after_warmup(records: list[dict[str, Any]], start: float, warmup_s: float) -> list[dict]:
    """The records of requests due `warmup_s` or more after `start`."""
    return [r for r in records if due_at(r) >= start + warmup_s]


def rate_of(times: list[float]) -> float | None:
    """Events per second from their times: (n - 1) gaps over the span (None for < 2)."""
    if len(times) < 2 or max(times) == min(times):
        return None
    return (len(times) - 1) / (max(times) - min(times))


def tpot_s(sample: dict[str, Any]) -> float | None:
    """Time per output token after the first, as vLLM's benchmark defines it
    (vllm/benchmarks/serve.py `calculate_metrics`: (latency - ttft) / (output_len - 1), only
    for answers of more than one token)."""
    if sample["ttft_s"] is None or sample["output_tokens"] <= 1:
        return None
    return (sample["e2e_s"] - sample["ttft_s"]) / (sample["output_tokens"] - 1)


def open_loop_summary(
    samples: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
    rate: float,
    late_ms: float,
    window_s: float | None = None,
) -> dict[str, Any]:
    """Did the arrivals happen as scheduled? Rates, queueing delay, late and dropped requests.

    offered: arrivals scheduled (sent or dropped); sent_per_s is the achieved arrival rate, both
    over the arrival window (`window_s`, the measured part of the run) when known, else from the
    gaps ((n - 1) / span, which reads high for a schedule that fills a known window);
    queueing delay: sent - scheduled; late: delay > `late_ms`, because no sender of the pool was
    free in time (`late_no_free_sender`) or the generator's event loop woke late (the rest);
    dropped: no sender within the profile's drop_after_s (loadtest/arrivals.py `Dispatcher`);
    connects in the request: sends that opened their connection inside their TTFT (no warm one
    was ready, loadtest/connections.py), and how long that took.
    """
    sent = [s for s in samples if "scheduled_at" in s]
    delays = [s["queue_delay_s"] for s in sent]
    late = [s for s in sent if s["queue_delay_s"] * 1000 > late_ms]
    no_sender = [s for s in late if s.get("sender_wait_s", 0.0) * 1000 > late_ms]
    connected = [s for s in sent if s.get("connect_s")]
    offered = len(sent) + len(dropped)
    if window_s:
        offered_per_s, sent_per_s = offered / window_s, len(sent) / window_s
    else:
        offered_per_s = rate_of([r["scheduled_at"] for r in sent + dropped])
        sent_per_s = rate_of([s["t_start"] for s in sent])
    return {
        "target_rate": rate,
        "window_s": window_s,
        "offered": offered,
        "offered_per_s": offered_per_s,
        "sent": len(sent),
        "sent_per_s": sent_per_s,
        "queue_delay_ms": distribution_ms(delays),
        # What the user waited: the client-side queue counts too (no coordinated omission).
        "ttft_from_arrival_ms": distribution_ms(
            [s["queue_delay_s"] + s["ttft_s"] for s in sent if s["ttft_s"] is not None]
        ),
        "late": len(late),
        "late_rate": len(late) / len(sent) if sent else 0.0,
        "late_no_free_sender": len(no_sender),
        "late_after_ms": late_ms,
        "dropped": len(dropped),
        "dropped_rate": len(dropped) / offered if offered else 0.0,
        "connects_in_request": len(connected),
        "connect_in_request_ms": distribution_ms([s["connect_s"] for s in connected]),
    }


def summarize(
    samples: list[dict[str, Any]],
    gates: LoadGates,
    ignore_eos: bool = False,
    open_loop: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Latency distributions, throughput, error/truncation rates and goodput of one run.

    A forced-length answer (its sample's `ignore_eos`, else the run's `ignore_eos`) runs to
    max_tokens by design: only natural answers count towards the truncation rate, and a run
    with none is not gated on truncation (`truncation_gated`); its rate (~1) is reported.
    Throughput and TPOT as vLLM's benchmark defines them (vllm/benchmarks/serve.py
    `calculate_metrics`): output and total (input + output) tokens over the run's duration.
    `open_loop` = {"rate", "late_after_ms", "dropped": records, "window_s"}: see
    `open_loop_summary`.
    """
    ok = [s for s in samples if s["error"] is None]
    errors = [s for s in samples if s["error"] is not None]
    natural = [s for s in ok if not s.get("ignore_eos", ignore_eos)]
    judged = natural if natural or not ok else ok
    truncated = [s for s in judged if s["finish_reason"] == "length"]
    good = [s for s in ok if meets_slo(s, gates)]
    # The measured window runs from the first request sent to the last response finished.
    window = (
        max(s["t_start"] + s["e2e_s"] for s in samples) - min(s["t_start"] for s in samples)
        if samples
        else 0.0
    )
    tokens = sum(s["output_tokens"] for s in ok)
    input_tokens = sum(s.get("input_tokens") or 0 for s in ok)
    good_tokens = sum(s["output_tokens"] for s in good)
    n = len(samples)

    def rate(count: float) -> float:
        return count / window if window > 0 else 0.0

    summary = {
        "requests": n,
        "ok_requests": len(ok),
        "errors": len(errors),
        "error_rate": len(errors) / n if n else 0.0,
        "ignore_eos": ignore_eos,
        "truncations": len(truncated),
        "truncation_rate": len(truncated) / len(judged) if judged else 0.0,
        "truncation_gated": bool(natural) if ok else not ignore_eos,
        "window_s": window,
        "requests_per_s": rate(len(ok)),
        "output_tokens": tokens,
        "output_tokens_per_s": rate(tokens),
        # Server-counted prompt tokens (chat template included); 0 when usage is not reported.
        "input_tokens": input_tokens,
        "input_tokens_per_request": (input_tokens / len(ok)) if ok else 0.0,
        "total_tokens_per_s": rate(input_tokens + tokens),
        "usage_reported_fraction": (sum(s["usage_reported"] for s in ok) / len(ok)) if ok else 0.0,
        "ttft_ms": distribution_ms([s["ttft_s"] for s in ok if s["ttft_s"] is not None]),
        # Per token (gated); per chunk as vLLM's benchmark client counts (see loadtest/sse.py).
        "itl_ms": distribution_ms([gap for s in ok for gap in s["itl_s"]]),
        "chunk_itl_ms": distribution_ms([gap for s in ok for gap in s.get("chunk_itl_s", [])]),
        "e2e_ms": distribution_ms([s["e2e_s"] for s in ok]),
        "tpot_ms": distribution_ms([t for s in ok if (t := tpot_s(s)) is not None]),
        "output_tokens_per_request": (tokens / len(ok)) if ok else 0.0,
        "goodput": {
            "requests": len(good),
            "fraction": len(good) / n if n else 0.0,
            "requests_per_s": rate(len(good)),
            "output_tokens_per_s": rate(good_tokens),
        },
        "error_examples": sorted({s["error"] for s in errors})[:5],
        "request_classes": _by_class(ok),
    }
    if open_loop is not None:
        summary["open_loop"] = open_loop_summary(
            samples,
            open_loop["dropped"],
            open_loop["rate"],
            open_loop["late_after_ms"],
            open_loop.get("window_s"),
        )
    return summary


def _by_class(ok: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per request class: how many, and the input / output lengths they had."""
    classes: dict[str, list[dict]] = {}
    for s in ok:
        classes.setdefault(s.get("request_class", "default"), []).append(s)
    return {
        name: {
            "requests": len(group),
            "input_tokens_mean": sum(s.get("input_tokens") or 0 for s in group) / len(group),
            "output_tokens": {
                f"p{q}": percentile([s["output_tokens"] for s in group], q) for q in PERCENTILES
            }
            | {"mean": sum(s["output_tokens"] for s in group) / len(group)},
        }
        for name, group in sorted(classes.items())
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
    if "open_loop" in summary:
        # A dropped arrival is a request the service never answered, like an error; and a user
        # waits from the arrival, so the time queued for a free sender counts towards TTFT.
        loop = summary["open_loop"]
        checks.append(_check("dropped_rate", loop["dropped_rate"], gates.max_error_rate))
        from_arrival = loop["ttft_from_arrival_ms"]["p95"]
        checks.append(_check("ttft_from_arrival_p95_ms", from_arrival, gates.ttft_p95_ms))
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
