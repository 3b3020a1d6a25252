"""Locust's real master/worker mode against the real local vLLM (e2e, the session's server).

What only a distributed run shows: the master waits for the worker's last samples (requests in
flight at the stop included) before it writes samples.jsonl, the worker exits after the run by
itself, and what the merged samples count matches what the server itself counted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.project import ROOT
from loadtest import server_metrics

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _served(endpoint: str, model: str) -> tuple[float, float]:
    samples = server_metrics.scrape(endpoint)
    assert samples is not None, f"no /metrics at {endpoint}"
    return (
        server_metrics.counter(samples, server_metrics.SUCCESS, model),
        server_metrics.counter(samples, "vllm:generation_tokens_total", model),
    )


def test_master_and_worker_merge_what_the_server_served(vllm_server: dict, tmp_path: Path):
    endpoint, model = vllm_server["endpoint"], vllm_server["served_model_name"]
    master_port, samples = _free_port(), tmp_path / "samples.jsonl"
    locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = _served(endpoint, model)
    master = subprocess.Popen(
        [*locust, "--master", "--headless", "--expect-workers", "1", "--users", "4",
         "--spawn-rate", "4", "--run-time", "4s", "--stop-timeout", "30", "--only-summary",
         "--master-bind-port", str(master_port), "--model", model, "--host", endpoint,
         "--samples-out", str(samples)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*locust, "--worker", "--master-port", str(master_port), "--model", model],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        master_log, _ = master.communicate(timeout=120)
        worker_log, _ = worker.communicate(timeout=60)  # it exits after the run, by itself
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
    assert master.returncode == 0, master_log[-2000:]
    assert worker.returncode == 0, worker_log[-2000:]
    answered, tokens = (a - b for a, b in zip(_served(endpoint, model), before, strict=True))

    records = [json.loads(line) for line in samples.read_text().splitlines()]
    requests = [r for r in records if r["kind"] == "request"]
    assert requests and all(r["error"] is None for r in requests), requests[:3]
    # Every request the server answered is in the merged file, the last in-flight ones too.
    assert len(requests) == answered, (len(requests), answered)
    counted = sum(r["output_tokens"] for r in requests)
    assert abs(counted - tokens) <= 0.1 * tokens, (counted, tokens)
