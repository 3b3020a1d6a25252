"""Real vLLM (CPU build) on the model the pipeline code trains: answers, failures, clean-up.

Uses the shared fixtures of tests/conftest.py (`make test-model`, `make serve`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "build" / "serving"
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def local_cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serving.local", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_state_file_and_chat_completion(vllm_server):
    assert vllm_server["endpoint"] == f"http://127.0.0.1:{vllm_server['port']}/v1"
    assert Path(vllm_server["model_dir"], "config.json").is_file()
    assert Path(vllm_server["log"]).is_file()
    client = openai.OpenAI(base_url=vllm_server["endpoint"], api_key="local")
    models = [m.id for m in client.models.list().data]
    assert models == [vllm_server["served_model_name"]]
    answer = client.chat.completions.create(
        model=vllm_server["served_model_name"],
        messages=[{"role": "user", "content": "I want to cancel my order"}],
        max_tokens=16,
        temperature=0,
    )
    assert answer.choices[0].message.content.strip()
    assert answer.usage.completion_tokens > 0


def test_streamed_chat_completion(vllm_server):
    client = openai.OpenAI(base_url=vllm_server["endpoint"], api_key="local")
    stream = client.chat.completions.create(
        model=vllm_server["served_model_name"],
        messages=[{"role": "user", "content": "where is my parcel?"}],
        max_tokens=16,
        temperature=0,
        stream=True,
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 2, pieces  # really streamed, token by token
    assert "".join(pieces).strip()


def test_metrics_expose_the_names_gke_scales_and_alerts_on(vllm_server):
    text = httpx.get(vllm_server["endpoint"].removesuffix("/v1") + "/metrics").text
    for metric in (
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:e2e_request_latency_seconds_bucket",
        "http_requests_total",
    ):
        assert metric in text, metric


def test_serve_check_target(vllm_server):
    result = subprocess.run(
        ["make", "-s", "serve-check", f"NAME={vllm_server['name']}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "answered" in result.stdout


def test_a_name_already_running_is_refused(vllm_server):
    result = local_cli("start", "--name", vllm_server["name"], "--model", vllm_server["model_dir"])
    assert result.returncode == 2
    assert "already running" in result.stderr
    assert (
        json.loads((STATE / f"{vllm_server['name']}.json").read_text())["pid"]
        == (vllm_server["pid"])
    )


def test_the_port_of_a_running_server_is_refused(vllm_server):
    name = f"pytest-port-{os.getpid()}"
    result = local_cli(
        "start",
        "--name",
        name,
        "--model",
        vllm_server["model_dir"],
        "--port",
        str(vllm_server["port"]),
    )
    assert result.returncode == 2
    assert f"PORT={vllm_server['port']}" in result.stderr and "in use" in result.stderr
    assert not (STATE / f"{name}.json").exists()


def test_bad_model_path_through_make():
    result = subprocess.run(
        ["make", "-s", "serve", "MODEL=/nonexistent/model", f"NAME=pytest-bad-{os.getpid()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "not a model directory" in result.stderr


def test_an_engine_that_dies_while_starting_is_reported_and_cleaned_up(trained_model_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(trained_model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["num_attention_heads"] = 3  # hidden size 128 is not divisible by 3: load fails
    config.pop("head_dim", None)
    (broken / "config.json").write_text(json.dumps(config))
    name = f"pytest-broken-{os.getpid()}"
    result = local_cli("start", "--name", name, "--model", str(broken))
    assert result.returncode == 1
    assert "exited with code" in result.stderr or "no successful completion" in result.stderr
    assert "--- last lines of" in result.stderr  # the log tail is shown
    assert not (STATE / f"{name}.json").exists()
    assert not any(
        str(broken) in p.read_text(errors="ignore")
        for p in Path("/proc").glob("[0-9]*/cmdline")
        if p.exists()
    )


def test_a_start_timeout_stops_the_server(trained_model_dir):
    name = f"pytest-timeout-{os.getpid()}"
    started = time.monotonic()
    result = local_cli("start", "--name", name, "--model", str(trained_model_dir), "--timeout", "3")
    assert result.returncode == 1
    assert "no successful completion within 3 s" in result.stderr
    assert time.monotonic() - started < 120
    assert not (STATE / f"{name}.json").exists()


def test_second_instance_side_by_side_then_engine_killed(vllm_server, trained_model_dir):
    """Stable and canary run together; killing the canary's engine is detected and cleaned up."""
    name = f"pytest-canary-{os.getpid()}"
    try:
        started = local_cli("start", "--name", name, "--model", str(trained_model_dir))
        assert started.returncode == 0, started.stderr[-3000:]
        canary = json.loads((STATE / f"{name}.json").read_text())
        assert canary["port"] != vllm_server["port"]
        assert local_cli("check", "--name", vllm_server["name"]).returncode == 0
        assert local_cli("check", "--name", name).returncode == 0

        engines = children(canary["pid"])
        assert engines, "the API server should have an engine-core child process"
        for pid in engines:
            os.kill(pid, signal.SIGKILL)
        time.sleep(2)
        checked = local_cli("check", "--name", name, timeout=300)
        assert checked.returncode == 1
        assert "is not serving" in checked.stderr and "--- last lines of" in checked.stderr
        assert not (STATE / f"{name}.json").exists()
        deadline = time.monotonic() + 30
        while not group_gone(canary["pgid"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert group_gone(canary["pgid"])
        # The stable server is untouched.
        assert local_cli("check", "--name", vllm_server["name"]).returncode == 0
    finally:
        local_cli("stop", "--name", name)
