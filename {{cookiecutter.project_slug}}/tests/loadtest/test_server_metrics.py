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
