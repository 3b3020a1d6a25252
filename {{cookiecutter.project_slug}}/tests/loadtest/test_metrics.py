"""Percentiles from raw samples, goodput, the SLO gate and the generator CPU verdict."""

from __future__ import annotations

import pytest

from loadtest import metrics
from policies.gates import LoadGates

GATES = LoadGates(
    ttft_p95_ms=500,
    itl_p95_ms=100,
    e2e_p95_ms=2000,
    max_error_rate=0.1,
    max_truncation_rate=0.2,
    min_requests=3,
)


def sample(
    t: float,
    ttft: float | None = 0.1,
    itl: list[float] | None = None,
    e2e: float = 0.5,
    tokens: int = 5,
    finish: str | None = "stop",
    error: str | None = None,
) -> dict:
    return {
        "t_start": t,
        "status": 200,
        "ttft_s": ttft,
        "itl_s": itl or [0.05] * 4,
        "e2e_s": e2e,
        "output_tokens": tokens,
        "usage_reported": True,
        "finish_reason": finish,
        "error": error,
    }


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert metrics.percentile(values, 50) == 2.5
    assert metrics.percentile(values, 95) == pytest.approx(3.85)
    assert metrics.percentile([7.0], 99) == 7.0
    assert metrics.percentile([], 50) is None


def test_summary_rates_throughput_and_goodput() -> None:
    samples = [
        sample(0.0),
        sample(0.5, ttft=0.9, e2e=1.5),  # TTFT above the SLO: not goodput
        sample(1.0, finish="length"),
        sample(1.5, ttft=None, itl=[], e2e=0.2, tokens=0, finish=None, error="HTTP 500: boom"),
    ]
    s = metrics.summarize(samples, GATES)
    assert s["requests"] == 4 and s["errors"] == 1 and s["error_rate"] == 0.25
    assert s["truncations"] == 1 and s["truncation_rate"] == pytest.approx(1 / 3)
    # Window: first start (0.0) to last end (1.0 + 0.5 = 2.0, the 0.5 s request ends at 2.0).
    assert s["window_s"] == pytest.approx(2.0)
    assert s["output_tokens"] == 15 and s["output_tokens_per_s"] == pytest.approx(7.5)
    assert s["goodput"]["requests"] == 2
    assert s["goodput"]["output_tokens_per_s"] == pytest.approx(5.0)
    assert s["ttft_ms"]["n"] == 3 and s["ttft_ms"]["p50"] == pytest.approx(100)
    assert s["itl_ms"]["n"] == 12 and s["itl_ms"]["p99"] == pytest.approx(50)
    assert s["error_examples"] == ["HTTP 500: boom"]


def test_gate_passes_within_slos() -> None:
    s = metrics.summarize([sample(i * 0.1) for i in range(5)], GATES)
    verdict = metrics.gate(s, GATES)
    assert verdict["passed"] and verdict["failed"] == []
    assert {c["name"]: c["limit"] for c in verdict["checks"]}["ttft_p95_ms"] == 500


def test_gate_fails_on_latency_errors_and_too_few_requests() -> None:
    slow = [sample(i * 0.1, ttft=0.8) for i in range(3)]
    assert metrics.gate(metrics.summarize(slow, GATES), GATES)["failed"] == ["ttft_p95_ms"]
    broken = [
        sample(0.0),
        sample(0.1, error="HTTP 500: x", ttft=None, itl=[], tokens=0),
        sample(0.2),
    ]
    assert "error_rate" in metrics.gate(metrics.summarize(broken, GATES), GATES)["failed"]
    few = metrics.gate(metrics.summarize([sample(0.0)], GATES), GATES)
    assert few["failed"] == ["requests"]


def test_truncation_is_gated_without_ignore_eos_only() -> None:
    capped = [sample(i * 0.1, finish="length") for i in range(5)]
    # Normal answers that hit max_tokens were cut short: a breach.
    normal = metrics.summarize(capped, GATES)
    assert normal["truncation_rate"] == 1.0 and normal["truncation_gated"]
    assert metrics.gate(normal, GATES)["failed"] == ["truncation_rate"]
    # With ignore_eos every answer runs to max_tokens by design: counted, reported, not gated.
    forced = metrics.summarize(capped, GATES, ignore_eos=True)
    assert forced["truncation_rate"] == 1.0 and forced["ignore_eos"]
    assert not forced["truncation_gated"]
    verdict = metrics.gate(forced, GATES)
    assert verdict["passed"]
    (check,) = [c for c in verdict["checks"] if c["name"] == "truncation_rate"]
    assert check["value"] == 1.0 and "ignore_eos" in check["note"]


def test_the_mode_comes_from_the_samples_when_they_record_it() -> None:
    stamped = [{**sample(0.0), "ignore_eos": True}, {**sample(0.1), "ignore_eos": True}]
    assert metrics.ignore_eos_of(stamped, default=False) is True
    assert metrics.ignore_eos_of([sample(0.0)], default=True) is True  # older samples
    mixed = [{**sample(0.0), "ignore_eos": True}, {**sample(0.1), "ignore_eos": False}]
    assert metrics.ignore_eos_of(mixed, default=False) is False


def test_chunk_itl_is_reported_beside_the_per_token_itl() -> None:
    bunched = {**sample(0.0, itl=[0.1, 0.1, 0.1]), "chunk_itl_s": [0.3, 0.0, 0.0]}
    s = metrics.summarize([bunched], GATES)
    assert s["itl_ms"]["p50"] == pytest.approx(100)
    assert s["chunk_itl_ms"]["p50"] == pytest.approx(0) and s["chunk_itl_ms"]["n"] == 3
    assert s["itl_ms"]["mean"] == pytest.approx(s["chunk_itl_ms"]["mean"])


def test_gate_on_no_samples_fails_without_crashing() -> None:
    verdict = metrics.gate(metrics.summarize([], GATES), GATES)
    assert not verdict["passed"] and "requests" in verdict["failed"]


def test_cpu_verdict() -> None:
    assert metrics.cpu_verdict([10, 20, 30], 60, 90)["status"] == "ok"
    assert metrics.cpu_verdict([10, 20, 70], 60, 90)["status"] == "warn"
    assert metrics.cpu_verdict([95, 97, 99], 60, 90)["status"] == "saturated"
    assert metrics.cpu_verdict([], 60, 90)["status"] == "unknown"
