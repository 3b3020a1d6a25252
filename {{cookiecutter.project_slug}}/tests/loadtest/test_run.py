"""`make load` end to end: real Locust against real local vLLM (e2e), and the failure paths."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.project import ROOT
from policies.gates import GATES_FILE


def run_load(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.run", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def gates_file(tmp_path: Path, **load: float) -> Path:
    """The project's gates with some load thresholds replaced (short runs have few requests)."""
    gates = yaml.safe_load(GATES_FILE.read_text())
    gates["load"].update({"min_requests": 5, **load})
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(gates))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_endpoint_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load"
    done = run_load("--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--out", str(out))
    assert done.returncode == 2
    assert "is not reachable" in done.stderr and "make serve" in done.stderr
    assert not out.exists()


def test_no_endpoint_and_no_local_server_exits_2(tmp_path: Path) -> None:
    done = run_load("--endpoint", "ftp://example/v1", "--out", str(tmp_path / "load"))
    assert done.returncode == 2 and "is not an http(s) URL" in done.stderr


def test_analyze_a_distributed_runs_samples(tmp_path: Path) -> None:
    """A GKE run's /out folder (samples.jsonl from the Locust master) is summarised the same way."""
    run = tmp_path / "gke"
    run.mkdir()
    record = {
        "kind": "request",
        "status": 200,
        "ttft_s": 0.05,
        "itl_s": [0.01] * 9,
        "e2e_s": 0.2,
        "output_tokens": 10,
        "usage_reported": True,
        "finish_reason": "stop",
        "error": None,
    }
    lines = [json.dumps({**record, "t_start": 1000 + i * 0.1}) for i in range(20)]
    lines += [json.dumps({"kind": "cpu", "percent": 30.0})] * 5
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "load"
    done = run_load(
        "--analyze",
        str(run),
        "--model",
        "m",
        "--users",
        "2",
        "--out",
        str(out),
        "--gates",
        str(gates_file(tmp_path)),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] == 20 and summary["output_tokens"] == 200
    assert summary["ttft_ms"]["p50"] == pytest.approx(50.0)
    assert summary["generator_cpu"]["status"] == "ok" and not summary["server"]["available"]


SHORT = ("--users", "2", "--duration", "8", "--max-tokens", "16")


@pytest.mark.e2e
def test_short_real_run_meets_the_slos(vllm_server: dict, tmp_path: Path) -> None:
    out = tmp_path / "load"
    done = run_load(
        "--endpoint",
        vllm_server["endpoint"],
        "--out",
        str(out),
        *SHORT,
        "--gates",
        str(gates_file(tmp_path)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["model"] == vllm_server["served_model_name"]
    assert summary["requests"] >= 5 and summary["errors"] == 0
    assert 0 < summary["ttft_ms"]["p50"] <= summary["e2e_ms"]["p50"]
    assert summary["output_tokens_per_s"] > 0 and summary["goodput"]["output_tokens_per_s"] > 0
    assert summary["usage_reported_fraction"] == 1.0
    assert summary["generator_cpu"]["samples"] > 0
    # The server saw the same requests: its TTFT histogram moved by at least our count.
    assert summary["server"]["available"]
    assert summary["server"]["ttft_ms"]["count"] >= summary["ok_requests"]
    assert summary["thresholds"]["min_requests"] == 5
    assert len(summary["stamp"]["prompt_set_sha256"]) == 64
    for name in ("locust_stats.csv", "locust.html", "samples.jsonl", "report.md"):
        assert (out / name).is_file(), name
    assert "Load test: PASS" in (out / "report.md").read_text()


@pytest.mark.e2e
def test_slo_breach_exits_1_with_the_evidence(vllm_server: dict, tmp_path: Path) -> None:
    out = tmp_path / "load"
    done = run_load(
        "--endpoint",
        vllm_server["endpoint"],
        "--out",
        str(out),
        *SHORT,
        "--gates",
        str(gates_file(tmp_path, ttft_p95_ms=0.01)),
    )
    assert done.returncode == 1
    assert "SLO breach: ttft_p95_ms" in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["passed"] and summary["gate"]["failed"] == ["ttft_p95_ms"]
    assert "**FAIL**" in (out / "report.md").read_text()


@pytest.mark.e2e
def test_endpoint_answering_errors(vllm_server: dict, tmp_path: Path) -> None:
    # A model name the server does not serve: refused before any load.
    done = run_load(
        "--endpoint",
        vllm_server["endpoint"],
        "--model",
        "no-such-model",
        "--out",
        str(tmp_path / "a"),
    )
    assert done.returncode == 2 and "does not serve 'no-such-model'" in done.stderr
    # Some prompts longer than the model's context: the server answers HTTP 400 mid-run.
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"id": "ok", "messages": [{"role": "user", "content": "where is my order"}]},
        {"id": "huge", "messages": [{"role": "user", "content": "refund " * 20000}]},
    ]
    prompts.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "load"
    done = run_load(
        "--endpoint",
        vllm_server["endpoint"],
        "--out",
        str(out),
        *SHORT,
        "--prompts",
        str(prompts),
        "--gates",
        str(gates_file(tmp_path)),
    )
    assert done.returncode == 1 and "error_rate" in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["error_rate"] < 1 and summary["error_examples"][0].startswith("HTTP 400")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "abc"), "RATE='abc': must be a number > 0, e.g. RATE=2"),
        (("--rate", "0"), "RATE='0': must be a number > 0"),
        (("--workers", "-1"), "WORKERS='-1': must be a number > 0"),
        (("--rate", "2", "--steps", "1,2"), "with RATE= run one rate"),
        (("--knee", "--rate", "2"), "`make load-knee` chooses the rates itself"),
        (("--steps", "1,x"), "STEPS='1,x': comma-separated user counts"),
    ],
)
def test_bad_load_options_exit_2_saying_how_to_fix_them(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "load"
    done = run_load("--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--out", str(out), *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not out.exists()


def test_an_open_loop_level_excludes_its_warm_up_and_counts_its_drops() -> None:
    """evaluate() on recorded samples, no server: what the knee search judges each run by."""
    from loadtest.profile import load_profile
    from loadtest.run import Level, evaluate
    from policies.gates import LoadGates

    def sent(at: float) -> dict:
        return {"t_start": at, "scheduled_at": at, "queue_delay_s": 0.0, "sender_wait_s": 0.0,
                "status": 200, "ttft_s": 0.05, "itl_s": [0.01] * 4, "e2e_s": 0.1,
                "output_tokens": 5, "input_tokens": 40, "usage_reported": True,
                "finish_reason": "stop", "error": None, "ignore_eos": False}  # fmt: skip

    samples = [sent(100 + i * 0.5) for i in range(40)]  # 2 req/s for 20 s
    dropped = [{"scheduled_at": 101.0}, {"scheduled_at": 115.0}]  # one in the warm-up
    gates = LoadGates(ttft_p95_ms=500, itl_p95_ms=100, e2e_p95_ms=2000, max_error_rate=0.01,
                      max_truncation_rate=0.05, min_requests=5)  # fmt: skip
    server = {"available": False, "reason": "unit test"}
    level = Level(users=8, duration=20, rate=2.0, warmup_s=5.0)
    result = evaluate((samples, dropped, [10.0]), server, load_profile(), gates, level)
    assert result["requests"] == 30 and result["open_loop"]["dropped"] == 1
    assert result["open_loop"]["dropped_rate"] == pytest.approx(1 / 31)
    assert result["gate"]["failed"] == ["dropped_rate"]
    assert result["rate"] == 2.0 and result["warmup_s"] == 5.0
