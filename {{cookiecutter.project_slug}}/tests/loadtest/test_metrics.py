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


def test_tpot_input_tokens_and_total_throughput_as_vllm_defines_them() -> None:
    # vLLM: TPOT = (latency - ttft) / (output_len - 1); total = (input + output) / duration.
    one = {**sample(0.0, ttft=0.1, e2e=1.0, tokens=10), "input_tokens": 40}
    single_token = {**sample(0.0, ttft=0.2, e2e=0.2, tokens=1), "input_tokens": 40}
    s = metrics.summarize([one, single_token], GATES)
    assert metrics.tpot_s(one) == pytest.approx(0.1)
    assert metrics.tpot_s(single_token) is None  # one token: no TPOT
    assert s["tpot_ms"]["n"] == 1 and s["tpot_ms"]["p50"] == pytest.approx(100)
    assert s["input_tokens"] == 80 and s["input_tokens_per_request"] == 40
    assert s["total_tokens_per_s"] == pytest.approx((80 + 11) / 1.0)


def test_only_natural_answers_count_towards_truncation_in_a_mix() -> None:
    natural = [{**sample(i * 0.1), "ignore_eos": False} for i in range(9)]
    cut = {**sample(1.0, finish="length"), "ignore_eos": False}
    forced = [{**sample(2 + i * 0.1, finish="length"), "ignore_eos": True} for i in range(10)]
    s = metrics.summarize([*natural, cut, *forced], GATES)
    assert s["truncation_gated"] and s["truncations"] == 1
    assert s["truncation_rate"] == pytest.approx(1 / 10)  # of the 10 natural answers


def open_sample(scheduled: float, delay: float, sender_wait: float = 0.0) -> dict:
    return {
        **sample(scheduled + delay),
        "scheduled_at": scheduled,
        "queue_delay_s": delay,
        "sender_wait_s": sender_wait,
    }


def test_open_loop_rates_queueing_late_and_dropped() -> None:
    sent = [open_sample(i * 0.5, 0.001) for i in range(18)]  # 2 req/s, on time
    sent.append(open_sample(9.0, 0.2))  # late: the event loop woke late
    sent.append(open_sample(9.5, 0.4, sender_wait=0.39))  # late: no free sender
    dropped = [{"scheduled_at": 10.0}, {"scheduled_at": 10.5}]
    s = metrics.summarize(sent, GATES, open_loop={"rate": 2.0, "late_after_ms": 50,
                                                   "dropped": dropped})  # fmt: skip
    loop = s["open_loop"]
    assert loop["offered"] == 22 and loop["sent"] == 20 and loop["dropped"] == 2
    assert loop["offered_per_s"] == pytest.approx(2.0)  # 21 gaps over 10.5 s
    in_window = metrics.summarize(
        sent,
        GATES,
        open_loop={"rate": 2.0, "late_after_ms": 50, "dropped": dropped, "window_s": 11.0},
    )
    assert in_window["open_loop"]["offered_per_s"] == pytest.approx(2.0)  # 22 in 11 s
    assert in_window["open_loop"]["sent_per_s"] == pytest.approx(20 / 11)
    assert loop["late"] == 2 and loop["late_no_free_sender"] == 1
    assert loop["late_rate"] == pytest.approx(0.1)
    assert loop["dropped_rate"] == pytest.approx(2 / 22)
    assert loop["queue_delay_ms"]["max"] == pytest.approx(400)
    # TTFT as the user saw it, from the arrival: 100 ms + the queueing delay.
    assert loop["ttft_from_arrival_ms"]["max"] == pytest.approx(500)
    # A dropped arrival is a request never answered: gated like errors.
    verdict = metrics.gate(s, GATES.model_copy(update={"max_error_rate": 0.05}))
    assert verdict["failed"] == ["dropped_rate"]
    assert metrics.gate(s, GATES)["passed"]  # within a 10 % error budget


def test_open_loop_counts_the_connects_inside_requests() -> None:
    sent = [open_sample(i * 0.5, 0.001) for i in range(10)]
    sent[3]["connect_s"], sent[7]["connect_s"] = 0.004, 0.2  # no warm connection for these
    sent[5]["connect_s"] = 0.0  # reused (or opened while the sender waited)
    loop = metrics.summarize(sent, GATES, open_loop={"rate": 2.0, "late_after_ms": 50,
                                                      "dropped": []})["open_loop"]  # fmt: skip
    assert loop["connects_in_request"] == 2
    assert loop["connect_in_request_ms"]["max"] == pytest.approx(200)
    assert loop["connect_in_request_ms"]["n"] == 2


def test_closed_loop_runs_have_no_dropped_check() -> None:
    s = metrics.summarize([sample(i * 0.1) for i in range(5)], GATES)
    assert "open_loop" not in s
    assert "dropped_rate" not in {c["name"] for c in metrics.gate(s, GATES)["checks"]}


def test_time_queued_for_a_sender_counts_towards_the_ttft_slo() -> None:
    """TTFT from the send is within the SLO (100 ms of 500); from the arrival it is not."""
    queued = [open_sample(i * 0.5, 0.6, sender_wait=0.6) for i in range(10)]
    s = metrics.summarize(queued, GATES, open_loop={"rate": 2.0, "late_after_ms": 50,
                                                     "dropped": []})  # fmt: skip
    assert s["ttft_ms"]["p95"] == pytest.approx(100)
    assert metrics.gate(s, GATES)["failed"] == ["ttft_from_arrival_p95_ms"]


def test_warm_up_requests_and_drops_are_not_measured() -> None:
    records = [open_sample(float(t), 0.0) for t in range(10)]
    kept = metrics.after_warmup(records, start=0.0, warmup_s=5.0)
    assert [r["scheduled_at"] for r in kept] == [5.0, 6.0, 7.0, 8.0, 9.0]
    closed = metrics.after_warmup([sample(1.0), sample(6.0)], start=1.0, warmup_s=5.0)
    assert [r["t_start"] for r in closed] == [6.0]


def test_a_summary_is_what_its_readers_expect() -> None:
    """The canary and the report read summary.json through common/contracts.py; a key renamed
    here is a schema error naming it, not evidence the readers quietly miss."""
    from common.contracts import ContractError, LoadSummary

    s = {**metrics.summarize([sample(i * 0.1) for i in range(5)], GATES), "endpoint": "http://x"}
    read = LoadSummary.read(s, "load summary")
    assert read.p95_ms("ttft") == pytest.approx(100) and read.ok_requests == 5
    renamed = {k if k != "e2e_ms" else "e2e": v for k, v in s.items()}
    with pytest.raises(
        ContractError, match=r"load summary does not match .* e2e_ms: Field required"
    ):
        LoadSummary.read(renamed, "load summary")
