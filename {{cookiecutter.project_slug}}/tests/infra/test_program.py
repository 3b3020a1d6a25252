"""The whole program: every committed stack plans, parents and names are right, and inputs that
depend on other resources' outputs are really there (mocks drop them silently otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_helpers import STACKS, stack_values, write_stack_file

from common.project import ROOT
from infra.config import load_stack_config
from infra.plan import main, record_stack, resource_rows, run

COMPONENT_TYPES = {
    "llmops:services:Services",
    "llmops:identity:Identity",
    "llmops:network:Network",
    "llmops:cluster:Cluster",
    "llmops:gpu:GpuNodePool",
    "llmops:storage:Storage",
    "llmops:secrets:Secrets",
    "llmops:vertex:Vertex",
    "llmops:serving:ServingOnGke",
    "llmops:serving:MetricsAdapter",
    "llmops:monitoring:RequestLogs",
}


@pytest.fixture(scope="module")
def dev_rows():
    return {r["name"]: r for r in resource_rows(record_stack(load_stack_config("dev")))}


def test_components_parents_and_names(dev_rows):
    cfg = load_stack_config("dev")
    components = {r["type"] for r in dev_rows.values() if not r["custom"]}
    assert components == COMPONENT_TYPES
    for row in dev_rows.values():
        assert row["name"].startswith(cfg.prefix), row["name"]
        if row["type"].startswith("pulumi:providers:") or row["type"].startswith("llmops:"):
            continue
        assert row["parent_type"] in COMPONENT_TYPES, row


def inputs(rows, name):
    return rows[name]["inputs"]


def test_dependent_inputs_are_present(dev_rows):
    """Each of these inputs is another resource's output; a mock without the output drops it."""
    cfg = load_stack_config("dev")
    p, project = cfg.prefix, cfg.gcp.project_id
    nodes_sa = f"{p}-nodes@{project}.iam.gserviceaccount.com"
    assert inputs(dev_rows, f"{p}-gpu-serving-pool")["cluster"] == p
    assert inputs(dev_rows, f"{p}-system")["cluster"] == p
    assert inputs(dev_rows, f"{p}-gpu-serving-pool")["nodeConfig"]["serviceAccount"] == nodes_sa
    assert inputs(dev_rows, f"{p}-gke")["network"] == f"{p}-vpc-id"
    assert inputs(dev_rows, f"{p}-gke")["subnetwork"] == f"{p}-nodes-id"
    assert inputs(dev_rows, f"{p}-models-reader-0")["member"] == (
        f"serviceAccount:{p}-serving@{project}.iam.gserviceaccount.com"
    )
    bucket = inputs(dev_rows, f"{p}-models")["name"]
    assert inputs(dev_rows, f"{p}-models-reader-0")["bucket"] == bucket
    assert inputs(dev_rows, f"{p}-hub-token-serving")["secretId"] == f"{p}-hub-token"
    assert inputs(dev_rows, f"{p}-github-provider")["workloadIdentityPoolId"] == f"{p}-github"
    assert "principalSet://" in inputs(dev_rows, f"{p}-ci-wif-user")["member"]
    assert inputs(dev_rows, f"{p}-k8s")["kubeconfig"] == "[secret]"  # present, never written out

    deployments = [r for r in dev_rows.values() if r["type"] == "kubernetes:apps/v1:Deployment"]
    names = {d["inputs"]["metadata"]["name"] for d in deployments}
    assert names == {"vllm-stable", "vllm-canary", "custom-metrics-stackdriver-adapter"}
    deployments = [d for d in deployments if d["inputs"]["metadata"]["name"].startswith("vllm")]
    for d in deployments:
        pod = d["inputs"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == cfg.serving.service_account
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["model"]["csi"]["volumeAttributes"]["bucketName"] == bucket
    ksas = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["metadata"]["annotations"]
        for r in dev_rows.values()
        if r["type"] == "kubernetes:core/v1:ServiceAccount"
    }
    wi = "iam.gke.io/gcp-service-account"
    assert ksas[cfg.serving.service_account][wi] == f"{p}-serving@{project}.iam.gserviceaccount.com"
    adapter = ksas["custom-metrics-stackdriver-adapter"][wi]
    assert adapter == f"{p}-metrics@{project}.iam.gserviceaccount.com"


def test_nothing_left_unresolved(dev_rows):
    """No input may be empty where the program always sets it (a dropped Output shows as None)."""

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}[{i}]")
        else:
            yield path, value

    for row in dev_rows.values():
        for path, value in walk(row["inputs"], row["name"]):
            assert value is not None, path


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_plans(stack, tmp_path, capsys):
    assert run(stack, None, None, tmp_path) == 0
    doc = json.loads((tmp_path / f"{stack}.json").read_text())
    assert doc["stamp"]["producer"] == "infra.plan" and doc["stamp"]["stack"] == stack
    assert doc["summary"]["passed"] and doc["summary"]["violations_mandatory"] == 0
    assert doc["gpu_pools"] and doc["gpu_pools"][0]["price_table"] == doc["stamp"]["price_table"]
    assert all({"type", "name", "parent", "inputs"} <= set(r) for r in doc["resources"])
    markdown = (tmp_path / f"{stack}.md").read_text()
    assert "## Policy verdicts" in markdown and "### " in markdown
    assert f"plan {stack}:" in capsys.readouterr().out


def test_several_stacks_in_one_process(tmp_path):
    assert main(["--stack", "dev", "--stack", "prod", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.glob("*.json")} == {"dev.json", "prod.json"}
    with pytest.raises(SystemExit):
        main(["--stack", "dev", "--stack", "prod", "--config", str(tmp_path / "x.yaml")])


def test_invalid_config_writes_nothing(tmp_path, capsys):
    values = stack_values()
    values["gpu_pools"][0]["min_nodes"] = 9
    config = write_stack_file(tmp_path / "Pulumi.dev-bad.yaml", values)
    out = tmp_path / "plan"
    assert run("dev-bad", config, None, out) == 2
    assert "min_nodes=9" in capsys.readouterr().err
    assert not out.exists()


def violating_values():
    """Public bucket, a primitive role and an unbounded GPU pool in one stack."""
    values = stack_values()
    values["storage"]["public_access_prevention"] = "inherited"
    values["identity"] = {"extra_roles": {"ci": ["roles/editor"]}}
    values["gpu_pools"][0]["max_nodes"] = 500
    values["serving"]["max_replicas"] = 1
    return values


def test_violations_are_written_and_fail_the_plan(tmp_path):
    config = write_stack_file(tmp_path / "Pulumi.dev-bad.yaml", violating_values())
    assert run("dev-bad", config, None, tmp_path) == 1
    doc = json.loads((tmp_path / "dev-bad.json").read_text())
    failed = {v["policy"] for v in doc["violations"] if v["level"] == "mandatory"}
    assert {
        "storage-no-public-access",
        "iam-no-primitive-roles",
        "gpu-autoscaling-capped",
    } <= failed
    assert not doc["summary"]["passed"]
    assert "**VIOLATED**" in (tmp_path / "dev-bad.md").read_text()


@pytest.mark.e2e
def test_make_plan_fails_on_a_bad_config_naming_the_policy(tmp_path):
    config = write_stack_file(tmp_path / "Pulumi.dev-bad.yaml", violating_values())
    # The environments this test runs in (`$VENVS/infra/bin/python`), so make creates nothing.
    env = {**os.environ, "VENVS": str(Path(sys.executable).parents[2])}
    result = subprocess.run(
        ["make", "plan", "STACK=dev-bad", f"CONFIG={config}", f"OUT={tmp_path / 'out'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "violates mandatory policies" in result.stderr
    for policy in ("storage-no-public-access", "iam-no-primitive-roles", "gpu-autoscaling-capped"):
        assert policy in result.stderr + result.stdout


def test_a_capacity_chain_is_planned_with_its_compute_class_and_passes_the_policies(tmp_path):
    values = stack_values()
    pool = values["gpu_pools"][0]
    pool.pop("spot")
    pool.update(capacity=["spot", "flex-start", "on-demand"], min_nodes=0)
    config = write_stack_file(tmp_path / "Pulumi.dev-chain.yaml", values)
    assert run("dev-chain", config, None, tmp_path) == 1  # on-demand in dev: refused
    doc = json.loads((tmp_path / "dev-chain.json").read_text())
    failed = {(v["policy"], v["resource"]) for v in doc["violations"] if v["level"] == "mandatory"}
    assert {policy for policy, _ in failed} == {"gpu-spot-outside-prod"}, failed
    (resource,) = [name for _, name in failed]
    assert resource.endswith("-od-pool")
    kinds = [r for r in doc["resources"] if r["inputs"].get("kind") == "ComputeClass"]
    (klass,) = kinds
    names = [p["nodepools"][0] for p in klass["inputs"]["spec"]["priorities"]]
    assert names == [f"gpu-{pool['name']}-{s}" for s in ("spot", "flex", "od")]
    pool["capacity"] = ["spot", "flex-start"]
    write_stack_file(config, values)
    assert run("dev-chain", config, None, tmp_path) == 0
