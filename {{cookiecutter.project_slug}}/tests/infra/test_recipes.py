"""The infra/README.md recipes, applied to a copy of the project and planned there.

"Add a GPU type" (a catalog entry + price rows) and "Add a stack" (a stack file + its policy
config) must be the whole change: the offline plan, its pricing and the policy pack accept the
result, with no edit anywhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from recipes import NEW_GPU_REGION, NEW_GPUS, add_gpu_types, add_stack, copy_project

from infra.stacks import stack_names


def plan(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = root / "build" / "plan"
    result = subprocess.run(
        [sys.executable, "-m", "infra.plan", *args, "--out", str(out)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, out


def load_plan(out: Path, stack: str) -> dict[str, Any]:
    return json.loads((out / f"{stack}.json").read_text())


@pytest.fixture(scope="module")
def gpu_plan(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """The GPU recipe, then a dev stack with one pool of each new GPU type."""
    root = copy_project(tmp_path_factory.mktemp("gpu") / "project")
    add_gpu_types(root)
    stack_file = root / "infra" / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    (namespace,) = {key.split(":", 1)[0] for key in document["config"]}
    document["config"][f"{namespace}:gcp"]["region"] = NEW_GPU_REGION
    pools = document["config"][f"{namespace}:gpu_pools"]
    for gpu_type in NEW_GPUS:
        pools.append(
            {
                "name": gpu_type.removeprefix("nvidia-")[:20],
                "gpu_type": gpu_type,
                "gpus_per_node": 8,
                "spot": True,
                "min_nodes": 0,
                "max_nodes": 1,
                "labels": {"workload": "batch"},
            }
        )
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    result, out = plan(root, "--stack", "dev")
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: config refused
    return result, load_plan(out, "dev")


def test_new_gpu_types_are_planned_and_priced(gpu_plan):
    _, doc = gpu_plan
    priced = {pool["machine_type"]: pool for pool in doc["gpu_pools"]}
    for machine in NEW_GPUS.values():
        assert machine in priced, sorted(priced)
        assert priced[machine]["monthly_usd_per_node"] > 0
    pools = [
        r
        for r in doc["resources"]
        if r["type"] == "gcp:container/nodePool:NodePool"
        and r["inputs"]["nodeConfig"]["machineType"] in NEW_GPUS.values()
    ]
    accelerators = {r["inputs"]["nodeConfig"]["guestAccelerators"][0]["type"] for r in pools}
    assert accelerators == set(NEW_GPUS)


def test_new_gpu_types_pass_the_gpu_type_policy(gpu_plan):
    _, doc = gpu_plan
    verdicts = {v["policy"]: v["verdict"] for v in doc["policies"]}
    assert verdicts["gpu-allowed-types"] == "passed", doc["violations"]


@pytest.fixture(scope="module")
def stacks_project(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, Path]:
    """The stack recipe, twice: `qa`, an environment of its own, and `staging-eu`, a second
    staging in its own GCP project."""
    root = copy_project(tmp_path_factory.mktemp("stacks") / "project")
    text = (root / "infra" / "Pulumi.staging.yaml").read_text()
    (gcp,) = [v for k, v in yaml.safe_load(text)["config"].items() if k.endswith(":gcp")]
    add_stack(root, "qa", "qa")
    add_stack(root, "staging-eu", "staging", **{gcp["project_id"]: "my-llmops-staging-eu"})
    return root, *plan(root, "--all-stacks")


def test_new_stacks_are_listed_and_planned_by_plan_all(stacks_project):
    root, result, out = stacks_project
    stacks = stack_names(root / "infra")
    assert {"qa", "staging-eu"} <= set(stacks)
    assert result.returncode == 0, result.stdout + result.stderr
    for stack in stacks:
        doc = load_plan(out, stack)
        assert doc["stack"] == stack and doc["summary"]["passed"], stack
    assert load_plan(out, "qa")["stamp"]["config_file"].endswith("Pulumi.qa.yaml")
    assert load_plan(out, "staging-eu")["environment"] == "staging"


def test_a_stack_with_its_own_environment_names_and_labels_by_it(stacks_project):
    _, _, out = stacks_project
    doc = load_plan(out, "qa")
    assert doc["environment"] == "qa"
    cluster = next(r for r in doc["resources"] if r["type"] == "gcp:container/cluster:Cluster")
    assert cluster["inputs"]["name"].endswith("-qa")
    assert cluster["inputs"]["resourceLabels"]["environment"] == "qa"
