"""The vLLM /metrics cross-check: parsing, histogram deltas and bucket quantiles."""

from __future__ import annotations

import json

import pytest

from loadtest import server_metrics as sm

BEFORE = """# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.01",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 2.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.04
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 2.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="other"} 50.0
"""
AFTER = """vllm:time_to_first_token_seconds_bucket{engine="0",le="0.01",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.02",model_name="m"} 5.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="m"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 10.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 10.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.20
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 10.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="other"} 90.0
"""


# vLLM 0.32's inter-token histogram (vllm/v1/metrics/loggers.py, buckets from
# vllm/v1/metrics/buckets.py INTER_TOKEN_LATENCY_BUCKETS, first ones shown) as /metrics writes
# it, before and after a run of 60 engine steps averaging 30 ms.
ITL_BEFORE = """# HELP vllm:inter_token_latency_seconds Histogram of inter-token latency in seconds.
# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 0.5
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.01",model_name="m"} 0.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.025",model_name="m"} 10.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.05",model_name="m"} 20.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.075",model_name="m"} 20.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} 20.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 20.0
"""
ITL_AFTER = """vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 2.3
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.01",model_name="m"} 0.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.025",model_name="m"} 30.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.05",model_name="m"} 80.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.075",model_name="m"} 80.0
vllm:inter_token_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} 80.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 80.0
"""


def test_server_itl_histogram_and_its_cross_check() -> None:
    view = sm.server_view(sm.parse(BEFORE + ITL_BEFORE), sm.parse(AFTER + ITL_AFTER), "m")
    itl = view["itl_ms"]
    assert itl["count"] == 60 and itl["mean"] == pytest.approx(30.0)
    # Delta buckets: 0.025 -> 20, 0.05 -> 60: the median (30) lies in (25, 50] ms.
    assert itl["p50_bucket"] == [pytest.approx(25.0), pytest.approx(50.0)]
    assert itl["p50"] == pytest.approx(25.0 + 25.0 * 10 / 40)
    ok = sm.cross_check_itl({"mean": 32.0, "p50": 31.0}, view)
    assert ok["status"] == "ok" and ok["server_mean_ms"] == pytest.approx(30.0)
    assert ok["ratio"] == pytest.approx(32.0 / 30.0)
    assert sm.cross_check_itl({"mean": 45.0, "p50": 44.0}, view)["status"] == "warn"
    # A server that exposes TTFT but not (yet) the ITL series: the comparison is skipped.
    no_itl = sm.server_view(sm.parse(BEFORE), sm.parse(AFTER), "m")
    assert no_itl["itl_ms"] is None
    assert sm.cross_check_itl({"mean": 30.0}, no_itl)["status"] == "unavailable"
    assert sm.cross_check_itl({"mean": 30.0}, sm.server_view(None, None, "m"))["status"] == (
        "unavailable"
    )


def test_parse_and_histogram_by_model() -> None:
    hist = sm.histogram(sm.parse(BEFORE), sm.TTFT, "m")
    assert hist["count"] == 2 and hist["sum"] == pytest.approx(0.04)
    assert list(hist["buckets"].values()) == [1.0, 1.0, 2.0, 2.0]


def test_server_view_takes_the_delta_of_the_run() -> None:
    view = sm.server_view(sm.parse(BEFORE), sm.parse(AFTER), "m")
    assert view["available"] and view["ttft_ms"]["count"] == 8
    assert view["ttft_ms"]["mean"] == pytest.approx(20.0)
    assert view["requests_finished"] == 8
    # Evidence files are written with sorted keys: the bucket bounds must all be strings.
    assert json.loads(json.dumps(view, sort_keys=True))["ttft_buckets"]["+Inf"] == 8
    # Delta buckets: 0.01 -> 0, 0.02 -> 4, 0.04 -> 8: the median sits at the 0.02 bound.
    assert view["ttft_ms"]["p50"] == pytest.approx(20.0)
    assert view["ttft_ms"]["p50_bucket"] == [pytest.approx(10.0), pytest.approx(20.0)]


def test_quantile_interpolates_inside_a_bucket_and_caps_at_inf() -> None:
    hist = {"buckets": {0.1: 0.0, 0.2: 10.0, float("inf"): 10.0}, "sum": 0, "count": 10}
    assert sm.quantile(hist, 0.5) == pytest.approx(0.15)
    tail = {"buckets": {0.1: 1.0, float("inf"): 10.0}, "sum": 0, "count": 10}
    assert sm.quantile(tail, 0.99) == pytest.approx(0.1)


def test_quantile_bucket_is_what_the_histogram_can_say() -> None:
    hist = {"buckets": {0.1: 0.0, 0.2: 10.0, float("inf"): 10.0}, "sum": 0, "count": 10}
    assert sm.quantile_bucket(hist, 0.5) == (0.1, 0.2)
    tail = {"buckets": {0.1: 1.0, float("inf"): 10.0}, "sum": 0, "count": 10}
    assert sm.quantile_bucket(tail, 0.99) == (0.1, float("inf"))
    assert sm.quantile_bucket({"buckets": {}, "sum": 0, "count": 0}, 0.5) is None


def test_unavailable_metrics_and_cross_check() -> None:
    assert not sm.server_view(None, None, "m")["available"]
    unmoved = sm.server_view(sm.parse(BEFORE), sm.parse(BEFORE), "m")
    assert not unmoved["available"] and "did not move" in unmoved["reason"]
    view = sm.server_view(sm.parse(BEFORE), sm.parse(AFTER), "m")
    assert sm.cross_check({"mean": 22.0}, view, 0.2)["status"] == "ok"
    # The server's mean is 20 ms: 13 ms more is the request's way to the engine, not a bad client.
    assert sm.cross_check({"mean": 33.0}, view, 0.2)["status"] == "ok"
    assert sm.cross_check({"mean": 60.0}, view, 0.2)["status"] == "warn"
    assert sm.cross_check({"mean": 22.0}, unmoved, 0.2)["status"] == "unavailable"


def test_metrics_url() -> None:
    assert sm.metrics_url("http://127.0.0.1:18001/v1") == "http://127.0.0.1:18001/metrics"
    assert sm.metrics_url("http://h:1/v1/") == "http://h:1/metrics"
