"""The side-by-side load benchmark's arithmetic: shared window, token counting, clock alignment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import load_vs_vllm_bench as bench


def request(start: float, ttft: float, gaps: list[float], tokens: int) -> dict:
    times = bench.token_times(start, ttft, gaps)
    return {"start": start, "ttft": ttft, "times": times, "tokens": tokens}


def test_token_times_accumulate_the_gaps() -> None:
    assert bench.token_times(10.0, 0.5, [0.25, 0.25]) == [10.5, 10.75, 11.0]


def test_window_counts_only_tokens_that_arrived_in_it() -> None:
    requests = [
        request(0.0, 0.5, [0.5, 0.5, 0.5], 4),  # tokens at 0.5, 1.0, 1.5, 2.0
        request(1.2, 0.1, [0.1], 2),  # tokens at 1.3, 1.4
    ]
    figures = bench.in_window(requests, 1.0, 2.0)
    assert figures["output_tokens_per_s"] == pytest.approx(4.0)  # 1.0, 1.3, 1.4, 1.5
    assert figures["requests"] == 1 and figures["ttft_p50_ms"] == pytest.approx(100)


def test_peer_chunks_are_weighed_by_its_token_count() -> None:
    # vLLM's client times the role announcement too: 3 chunks for 2 tokens.
    result = {
        "start_times": [0.0, 0.1],
        "ttfts": [0.2, 0.0],
        "itls": [[0.0, 0.1], []],
        "output_lens": [2, 0],  # the second request failed
    }
    (only,) = bench.peer_requests(result)
    assert only["times"] == pytest.approx([0.2, 0.2, 0.3])
    assert bench.in_window([only], 0.0, 1.0)["output_tokens_per_s"] == pytest.approx(2.0)


def test_our_samples_move_to_the_peers_clock_and_errors_are_dropped(tmp_path: Path) -> None:
    lines = [
        {"kind": "request", "t_start": 1000.5, "ttft_s": 0.1, "itl_s": [0.1], "output_tokens": 2,
         "error": None},
        {"kind": "request", "t_start": 1001.0, "ttft_s": None, "itl_s": [], "output_tokens": 0,
         "error": "HTTP 500: boom"},
        {"kind": "cpu", "percent": 12.0},
    ]  # fmt: skip
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (only,) = bench.ours_requests(samples, wall_minus_perf=1000.0)
    assert only["start"] == pytest.approx(0.5)
    assert only["times"] == pytest.approx([0.6, 0.7])


def test_common_window_starts_after_settling_and_ends_at_the_first_last_request() -> None:
    ours = [request(5.0, 0.1, [], 1), request(30.0, 0.1, [], 1)]
    peer = [request(1.0, 0.1, [], 1), request(40.0, 0.1, [], 1)]
    assert bench.common_window(ours, peer, settle=2.0) == (7.0, 30.0)


def test_ratio_to_the_histogram_bucket() -> None:
    assert bench.ratio_to_bucket(30.0, [20.0, 40.0]) == 1.0
    assert bench.ratio_to_bucket(48.0, [20.0, 40.0]) == pytest.approx(1.2)
    assert bench.ratio_to_bucket(10.0, [20.0, 40.0]) == pytest.approx(0.5)
    assert bench.ratio_to_bucket(None, [20.0, 40.0]) is None


def test_open_loop_figures_sent_rate_and_chunk_itl_percentiles() -> None:
    requests = [
        {**request(1.0 + i, 0.1 * (i + 1), [0.01, 0.03], 3), "chunk_itl": [0.01, 0.03]}
        for i in range(4)
    ]  # sent at 1, 2, 3, 4 s
    figures = bench.in_window(requests, 1.0, 3.0)
    assert figures["requests"] == 2 and figures["sent_per_s"] == pytest.approx(1.0)
    assert figures["ttft_p95_ms"] == pytest.approx(195.0)  # of 100 and 200 ms
    assert figures["itl_p50_ms"] == pytest.approx(20.0)
    assert figures["itl_p95_ms"] == pytest.approx(30.0)
