"""End to end with the real engines: MLflow registry, vLLM CPU servers, `make eval`, `make load`.

A throwaway registry (MLFLOW_TRACKING_URI) holds v1 (champion), v2 (the same trained weights
registered again: a good candidate) and v3 (trained for a handful of steps: undertrained). The
servers are started once and shared; the test that kills the canary runs last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("VENVS", ROOT / ".venv"))
TAG = f"rel{os.getpid()}"
# Short steps (each side measured in turn); enough requests for `min_requests_per_step`.
LOAD_ARGS = "USERS=2 DURATION=20"


def pipelines_python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(VENVS / "pipelines" / "bin" / "python"), "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


REGISTER = """
import json, sys
from pathlib import Path
from pipelines.registry import register_model
out = register_model(Path(sys.argv[1]), sys.argv[2], {"accuracy": 0.0}, {"source": "release-e2e"},
                     {"pipeline_run": "release-e2e"}, passed_gate=True)
print(json.dumps(out, default=str))
"""


# The pipeline's own model code, stopped after three steps: a model that answers, badly.
UNDERTRAIN = """
from pathlib import Path
from pipelines import data_prep
from pipelines.generate_dataset import DEFAULT_OUT
from pipelines.training import TrainConfig, train_model
prepared = data_prep.prepare(str(DEFAULT_OUT))
train_model(prepared.splits, TrainConfig(seed=3, steps=3), Path(__OUT__), log=print)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory, trained_model_dir) -> dict[str, str]:
    """A registry of three versions, and the environment every `make` call here runs with."""
    tmp = tmp_path_factory.mktemp("release-e2e")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "VENVS": str(VENVS),
    }
    undertrained = tmp / "undertrained"
    pipelines_python(UNDERTRAIN.replace("__OUT__", repr(str(undertrained))), env)
    name = yaml.safe_load((ROOT / "llmops.yaml").read_text())["model"]["registry_name"]
    for model_dir in (trained_model_dir, trained_model_dir, undertrained):
        code = f"import sys; sys.argv = ['x', {str(model_dir)!r}, {name!r}]\n" + REGISTER
        pipelines_python(code, env)
    return env


@pytest.fixture(scope="module")
def servers(env):
    """v1, v2 and v3 served by vLLM, started once for the module and always stopped."""
    names = {version: f"{TAG}-v{version}" for version in ("1", "2", "3")}
    try:
        for version, name in names.items():
            subprocess.run(
                ["make", "-s", "serve", f"MODEL={version}", f"NAME={name}"],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=900,
            )
        yield names
    finally:
        for name in names.values():
            subprocess.run(
                ["make", "-s", "serve-stop", f"NAME={name}"], cwd=ROOT, env=env, timeout=120
            )


def champion(env) -> str:
    code = "from pipelines.registry import resolve_model; print(resolve_model('champion').version)"
    return pipelines_python(code, env).strip()


def gates_file(tmp: Path, steps: list[int], **load: float) -> Path:
    """policies/gates.yaml with shorter steps, adjusted for this test machine (see below)."""
    gates = yaml.safe_load((ROOT / "policies" / "gates.yaml").read_text())
    gates["canary"]["steps"] = steps
    # `make test-model` is smaller than the demo's model, so the absolute eval minimums are
    # dropped; non-inferiority and every latency check (relative ones included) stay.
    gates["eval"]["min_scores"] = {}
    gates["load"].update(load)
    path = tmp / f"gates-{len(list(tmp.glob('gates-*')))}.yaml"
    path.write_text(yaml.safe_dump(gates))
    return path


def run_canary(env, servers, stable: str, canary: str, gates: Path, out: Path):
    command = [
        sys.executable,
        "-m",
        "release.canary",
        "--backend",
        "local",
        "--gates",
        str(gates),
        "--out",
        str(out),
        "--stable-name",
        servers[stable],
        "--canary-name",
        servers[canary],
        "--load-args",
        LOAD_ARGS,
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    decision = json.loads((out / "decision.json").read_text())
    return result, decision


def test_canary_slower_than_the_slo_rolls_back(env, servers, tmp_path):
    before = champion(env)
    gates = gates_file(tmp_path, [100], ttft_p95_ms=0.5)  # no server answers in half a ms
    result, decision = run_canary(env, servers, "1", "2", gates, tmp_path / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    assert decision["verdict"] == "rolled_back"
    failed = [c["name"] for c in decision["steps"][0]["checks"] if not c["passed"]]
    assert "load.ttft_p95.slo" in failed, decision["reason"]
    assert champion(env) == before


def test_good_candidate_is_promoted(env, servers, tmp_path):
    gates = gates_file(tmp_path, [50, 100])
    result, decision = run_canary(env, servers, "1", "2", gates, tmp_path / "out")
    assert result.returncode == 0, decision.get("reason", "") + result.stderr[-2000:]
    assert decision["verdict"] == "promoted"
    assert [s["weight"] for s in decision["steps"]] == [50, 100]
    assert all(s["passed"] for s in decision["steps"])
    assert champion(env) == "2"
    assert (tmp_path / "out" / "decision.md").read_text().startswith("### Canary: ✅ promoted")


def test_undertrained_candidate_rolls_back_on_evals(env, servers, tmp_path):
    before = champion(env)
    gates = gates_file(tmp_path, [100])
    result, decision = run_canary(env, servers, "2", "3", gates, tmp_path / "out")
    assert result.returncode == 1
    assert decision["verdict"] == "rolled_back"
    failed = [c["name"] for c in decision["steps"][0]["checks"] if not c["passed"]]
    assert any(name.startswith("eval.") for name in failed), failed
    assert champion(env) == before


def test_canary_that_dies_mid_step_rolls_back(env, servers, tmp_path):
    """Runs last: it kills the v2 server while the first step measures it."""
    before = champion(env)
    state = ROOT / "build" / "serving" / f"{servers['2']}.json"
    pid = json.loads(state.read_text())["pid"]
    out = tmp_path / "out"

    def kill_when_step_starts():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not list(out.glob("step-*/canary")):
            time.sleep(0.5)
        time.sleep(3)
        os.killpg(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_step_starts, daemon=True)
    killer.start()
    result, decision = run_canary(env, servers, "1", "2", gates_file(tmp_path, [100]), out)
    killer.join(timeout=10)
    assert result.returncode == 1
    assert decision["verdict"] == "rolled_back"
    assert "died" in decision["reason"] or "failed" in decision["reason"], decision["reason"]
    assert champion(env) == before
