"""Run what was baked: the generated project's own tests and its whole local loop.

These are the slowest tests (they create the component environments on first use, train a
model, start vLLM). Environments are shared between bakes through $VENVS.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_make

SECOND = {
    "project_name": "Support Router",
    "gpu_type": "nvidia-a100-80gb",
    "region": "europe-west4",
    "gpus_per_node": "2",
    "gpu_spot": False,
    "training_orchestrator": "kubeflow-endpoint",
    "kfp_endpoint": "https://kfp.example.com/pipeline",
    "license": "MIT",
}


def _tail(result) -> str:
    return f"\n--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"


@pytest.mark.slow
def test_default_project_tests_and_demo(baker):
    project = baker()
    result = run_make(project, "test")
    assert result.returncode == 0, _tail(result)
    assert "all tests passed" in result.stdout

    demo = run_make(project, "demo")
    assert demo.returncode == 0, _tail(demo)
    stages = json.loads((project / "build" / "demo" / "stages.json").read_text())
    assert stages and all(stage["outcome"] == "passed" for stage in stages), stages
    for evidence in ("report/pr-comment.md", "report/index.html", "canary/decision.json"):
        assert (project / "build" / evidence).is_file(), evidence
    # The demo's candidate (the champion trained further on data v2) is better on the goldens,
    # so the canary must promote it; a rollback here means the gate or the recipe regressed.
    decision = json.loads((project / "build" / "canary" / "decision.json").read_text())
    assert decision["verdict"] == "promoted", decision["reason"]


@pytest.mark.slow
def test_second_project_passes_its_own_tests(baker):
    """A different option set: every unit test; the engine (e2e) tests already ran on the default
    bake and take the same code paths (options change configuration only)."""
    project = baker(**SECOND)
    result = run_make(project, "test", extra_env={"PYTEST_ADDOPTS": "-m 'not e2e'"})
    assert result.returncode == 0, _tail(result)
