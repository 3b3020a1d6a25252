"""The command line as a user meets it: bad input and a dead endpoint give a clear non-zero exit
and write nothing. (Runs against real endpoints are in test_evals_e2e.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.project import ROOT
from evals.cli import main
from evals.client import EndpointError, resolve_target


def evals_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEEPEVAL_TELEMETRY_OPT_OUT": "1"}
    for name in ("JUDGE_ENDPOINT", "JUDGE_MODEL", "LOCAL_MODEL_BASE_URL", "LOCAL_MODEL_NAME"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "evals.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_dead_endpoint_is_named_and_nothing_is_written(tmp_path: Path):
    url = dead_endpoint()
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # a stale result must not survive a failed run
    result = evals_cli("run", "--endpoint", url, "--out", str(out), "--no-mlflow")
    assert result.returncode == 2
    assert f"ERROR: endpoint {url} is not reachable" in result.stderr
    assert not list(out.iterdir())


def test_no_endpoint_and_no_local_server(tmp_path: Path):
    with pytest.raises(EndpointError, match=r"stable.json does not exist.*make serve.*ENDPOINT="):
        resolve_target(None, serving_dir=tmp_path)


def test_unknown_metric_fails_before_any_call(evals_copy: Path, tmp_path: Path):
    suite = evals_copy / "suite.yaml"
    suite.write_text(
        suite.read_text().replace("metrics: [refusal,", "metrics: [toxicity, refusal,")
    )
    result = evals_cli(
        "run", "--suite", str(suite), "--endpoint", dead_endpoint(), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert "metric 'toxicity'" in result.stderr and "not configured" in result.stderr


def test_malformed_dataset_line_is_named(evals_copy: Path, tmp_path: Path):
    data = evals_copy / "datasets" / "regular.jsonl"
    lines = data.read_text().splitlines()
    lines[6] = '{"id": "x", "input": "", "expected_output": "intent: billing", "category": "b"}'
    data.write_text("\n".join(lines) + "\n")
    result = evals_cli(
        "run",
        "--suite",
        str(evals_copy / "suite.yaml"),
        "--endpoint",
        dead_endpoint(),
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2
    assert f"{data}:7: input: String should have at least 1 character" in result.stderr


def test_compare_refuses_a_file_that_is_not_a_summary(tmp_path: Path, capsys):
    bad = tmp_path / "summary.json"
    bad.write_text('{"hello": 1}')
    assert main(["compare", "--base", str(bad), "--head", str(bad), "--out", str(tmp_path)]) == 2
    assert "is not an eval summary" in capsys.readouterr().err
    missing = str(tmp_path / "none.json")
    assert main(["compare", "--base", missing, "--head", str(bad), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "compare.json").exists()


def test_flip_rates_count_cases_whose_answer_changed_in_any_run():
    from evals.cli import flip_rates

    def run(*answers):
        return {
            "cases": [{"dataset": "d", "key": f"d/{i}", "output": a} for i, a in enumerate(answers)]
        }

    rates = flip_rates([run("a", "b", "c"), run("a", "x", "c"), run("a", "b", "y")])
    assert rates["d"]["cases"] == 3 and rates["d"]["flipped"] == 2
    assert rates["d"]["flip_rate"] == round(2 / 3, 6)
    assert [e["key"] for e in rates["d"]["examples"]] == ["d/1", "d/2"]


def test_flips_need_two_runs(capsys):
    from evals.cli import main

    assert main(["flips", "--runs", "1"]) == 2
    assert "at least 2 runs" in capsys.readouterr().err
