"""`make load WORKERS=2` (open loop): Locust's real master/worker mode against the real local vLLM
(e2e, the session's server).

What only a distributed run shows: the master waits for the workers' last samples (requests in
flight at the stop included) before it writes samples.jsonl, the workers exit after the run by
themselves, each worker sends its share of the Poisson arrivals, and what the merged samples
count matches what the server itself counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.project import ROOT
from loadtest import server_metrics
from policies.gates import GATES_FILE

pytestmark = pytest.mark.e2e

RATE, DURATION = 8, 6


def _served(endpoint: str, model: str) -> tuple[float, float]:
    samples = server_metrics.scrape(endpoint)
    assert samples is not None, f"no /metrics at {endpoint}"
    return (
        server_metrics.counter(samples, server_metrics.SUCCESS, model),
        server_metrics.counter(samples, "vllm:generation_tokens_total", model),
    )


def test_workers_2_merge_what_the_server_served(vllm_server: dict, tmp_path: Path) -> None:
    endpoint, model = vllm_server["endpoint"], vllm_server["served_model_name"]
    gates = yaml.safe_load(GATES_FILE.read_text())
    gates["load"]["min_requests"] = 5  # a short run
    (tmp_path / "gates.yaml").write_text(yaml.safe_dump(gates))
    out = tmp_path / "load"
    before = _served(endpoint, model)
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--endpoint", endpoint, "--workers", "2",
         "--rate", str(RATE), "--duration", str(DURATION), "--out", str(out),
         "--gates", str(tmp_path / "gates.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    answered, tokens = (a - b for a, b in zip(_served(endpoint, model), before, strict=True))
    log = (out / "locust.log").read_text()
    assert "did not exit" not in log and "sent no last samples" not in log, log[-2000:]

    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    requests = [r for r in records if r["kind"] == "request"]
    assert requests and all(r["error"] is None for r in requests), requests[:3]
    # Every request the server answered is in the merged file (the last in-flight ones too),
    # besides the one-token probe completion sent before the load.
    assert len(requests) + 1 == answered, (len(requests), answered)
    counted = sum(r["output_tokens"] for r in requests) + 1
    assert abs(counted - tokens) <= 0.1 * tokens, (counted, tokens)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["load"]["workers"] == 2 and summary["load"]["mode"] == "open"
    loop = summary["open_loop"]
    # Each worker planned round(RATE / 2 x DURATION) arrivals; a few fall after Locust's stop.
    # A worker whose window ends before the master's stop reaches it keeps the rate meanwhile
    # (loadtest/arrivals.py): on a busy 2-core machine that was 1 arrival more than planned, so
    # the bound allows 2 s of it.
    sent = loop["sent"]
    assert loop["dropped"] == 0 and 0.75 * RATE * DURATION <= sent <= RATE * (DURATION + 2)
