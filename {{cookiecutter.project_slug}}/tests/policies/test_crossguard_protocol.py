"""The policy pack run by pulumi_policy's real runtime, spoken to over the CLI's gRPC protocol.

`pulumi preview --policy-pack policies` starts the pack through the shim
`pulumi-analyzer-policy-python`: `<venv>/bin/python -u -m pulumi.policy <engine-address> .` in
policies/, with PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN, PULUMI_ORGANIZATION and
PULUMI_CONFIG set; the pack prints its port on the first stdout line. This module starts it the
same way (once) and plays the CLI's side of `pulumirpc.Analyzer`: Handshake, ConfigureStack,
GetAnalyzerInfo, Configure (schema defaults overlaid with policies/config/<stack>.json, as the CLI
reconciles them), Analyze per resource and AnalyzeStack, properties as protobuf Structs. The
runtime hands validators read-only proxies (pulumi_policy/proxy.py) that raise on unknown
values; the plain-dict tests in test_rules.py never see those.

Resources come from `make plan`'s recording (infra.plan.run), so the verdicts are compared with
the offline ones in build/plan/<stack>.json on every committed stack.
"""

from __future__ import annotations

import copy
import json
import os
import select
import subprocess
import sys
from collections import Counter
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import deserialize, proxy

from common.project import ROOT
from infra.config import project_name
from infra.plan import run
from infra.recording import SECRET_INPUTS
from infra.stacks import stack_names
from policies.offline import config_file, evaluate, load_policy_config
from policies.rules import POLICIES, PlanResource

POLICY_DIR = ROOT / "policies"
# pulumi.policy's entry point never dials the engine (it configures the runtime without an
# engine address; logs go to stderr), so nothing needs to listen here.
ENGINE_ADDRESS = "127.0.0.1:1"
# The stacks are the committed stack files, not a list kept here.
STACKS = stack_names()
# Planted violations go into this stack's plan: its config keeps gpu-spot-outside-prod mandatory.
PLANT_STACK = "dev"
ORGANIZATION = "organization"
# The runtime's own sentinels: the engine sends these for values unknown during preview, and
# marks a secret inside a Struct this way (pulumi_policy/deserialize.py unwraps it).
UNKNOWN_STRING = proxy.UNKNOWN_STRING_VALUE
UNKNOWN_BOOLEAN = proxy.UNKNOWN_BOOLEAN_VALUE
SIG, SECRET_SIG = deserialize.SPECIAL_SIG_KEY, deserialize.SPECIAL_SECRET_SIG
LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
STARTUP_TIMEOUT_S = 60


def pulumi_config(stack: str) -> dict[str, str]:
    """PULUMI_CONFIG as the CLI sets it: `project:key` -> string (objects as JSON)."""
    raw = yaml.safe_load((ROOT / "infra" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory):
    """The pack's gRPC server, started as the CLI starts it; always killed afterwards."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the CLI sets none
    env.update(
        PULUMI_PROJECT=project_name(),
        PULUMI_STACK=STACKS[0],
        PULUMI_DRY_RUN="true",
        PULUMI_ORGANIZATION=ORGANIZATION,
        PULUMI_CONFIG=json.dumps(pulumi_config(STACKS[0])),
    )
    log = tmp_path_factory.mktemp("analyzer") / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=POLICY_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    channel = None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
        line = proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            proc.kill()
            pytest.fail(
                f"the pack did not print its port (got {line!r}, exit {proc.poll()}):\n"
                f"{log.read_text()[-3000:]}",
                pytrace=False,
            )
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_S)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        if channel is not None:
            channel.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()


# --- the CLI's side of the protocol -----------------------------------------------------------


def configure(stub, stack: str) -> analyzer_pb2.AnalyzerInfo:
    """What the CLI does before analyzing a stack; returns the pack's info."""
    try:
        stub.Handshake(
            analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=ENGINE_ADDRESS,
                root_directory=str(POLICY_DIR),
                program_directory=str(POLICY_DIR),
            )
        )
    except grpc.RpcError as error:  # pulumi_policy 1.21 does not implement it; the CLI copes
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error
    stub.ConfigureStack(
        analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack,
            project=project_name(),
            organization=ORGANIZATION,
            dry_run=True,
            config=pulumi_config(stack),
        )
    )
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=reconciled(info, stack)))
    return info


def reconciled(info: analyzer_pb2.AnalyzerInfo, stack: str) -> dict[str, analyzer_pb2.PolicyConfig]:
    """Every policy's level and schema defaults, overlaid with the stack's config file."""
    path = config_file(stack)
    given = json.loads(path.read_text()) if path.exists() else {}
    result = {}
    for policy in info.policies:
        schema = json_format.MessageToDict(policy.configSchema.properties)
        props = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        level = policy.enforcementLevel
        value = given.get(policy.name)
        if isinstance(value, str):
            level = LEVELS[value]
        elif isinstance(value, dict):
            value = dict(value)
            level = LEVELS[value.pop("enforcementLevel", LEVEL_NAMES[level])]
            props.update(value)
        config = analyzer_pb2.PolicyConfig(enforcementLevel=level)
        config.properties.update(props)
        result[policy.name] = config
    return result


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine sends them: a Struct, secrets wrapped in the secret signature."""
    wrapped = {
        k: {SIG: SECRET_SIG, "value": v} if k in SECRET_INPUTS else v for k, v in props.items()
    }
    return json_format.ParseDict(wrapped, struct_pb2.Struct())


def urn(stack: str, row: dict[str, Any]) -> str:
    return f"urn:pulumi:{stack}::{project_name()}::{row['type']}::{row['name']}"


def findings(response, resource: str | None) -> list[tuple[str, str, str | None, str]]:
    """(policy, level, resource, message) per diagnostic; the runtime prefixes the description."""
    found = []
    for d in response.diagnostics:
        prefix = d.description + "\n"
        message = d.message[len(prefix) :] if d.message.startswith(prefix) else d.message
        found.append((d.policyName, LEVEL_NAMES[d.enforcementLevel], resource, message))
    return found


def analyze(stub, stack: str, row: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    request = analyzer_pb2.AnalyzeRequest(
        type=row["type"], name=row["name"], urn=urn(stack, row), properties=to_struct(row["inputs"])
    )
    return findings(stub.Analyze(request), row["name"])


def analyze_stack(stub, stack: str, rows: list[dict[str, Any]]):
    by_name = {r["name"]: r for r in rows}
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=r["type"],
            name=r["name"],
            urn=urn(stack, r),
            properties=to_struct(r["inputs"]),
            parent=urn(stack, by_name[r["parent"]]) if r["parent"] in by_name else "",
        )
        for r in rows
    ]
    response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))
    return findings(response, None)


def offline(stack: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    resources = [PlanResource(r["type"], r["name"], r["inputs"]) for r in rows]
    settings = load_policy_config(config_file(stack) if config_file(stack).exists() else None)
    return [(v.policy, v.level, v.resource, v.message) for v in evaluate(resources, settings)]


def difference(expected: list, actual: list) -> str:
    missed = Counter(expected) - Counter(actual)
    extra = Counter(actual) - Counter(expected)
    lines = [f"  missed through the protocol: {v}" for v in sorted(missed, key=str)]
    lines += [f"  only through the protocol:   {v}" for v in sorted(extra, key=str)]
    return f"{len(missed)} missed, {len(extra)} extra:\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Every committed stack's plan, as `make plan` writes it (exit 1 allowed: compared below)."""
    out = tmp_path_factory.mktemp("plan")
    docs = {}
    for stack in STACKS:
        assert run(stack, None, None, out) in (0, 1), f"`make plan STACK={stack}` refused"
        docs[stack] = json.loads((out / f"{stack}.json").read_text())
    return docs


def row_of(plan: dict[str, Any], resource_type: str, index: int = 0) -> dict[str, Any]:
    """A deep copy of the plan's `index`th resource of a type, to plant a violation in."""
    rows = [r for r in plan["resources"] if r["type"] == resource_type]
    assert rows, f"the plan has no {resource_type}"
    return copy.deepcopy(rows[index])


def gpu_pool(plan: dict[str, Any]) -> dict[str, Any]:
    pools = [
        r
        for r in plan["resources"]
        if r["type"] == "gcp:container/nodePool:NodePool"
        and r["inputs"]["nodeConfig"].get("guestAccelerators")
    ]
    assert pools, "the plan has no GPU node pool"
    return copy.deepcopy(pools[0])


# --- the tests ----------------------------------------------------------------------------------


def test_stacks_come_from_the_stack_files():
    assert {"dev", "staging", "prod"} <= set(STACKS), STACKS


def test_analyzer_info_is_the_pack(analyzer):
    """What `pulumi policy publish` and the CLI read first: names, levels and schema defaults."""
    info = configure(analyzer, STACKS[0])
    assert info.name == "llmops-guardrails" and info.supportsConfig
    got = {p.name: p for p in info.policies}
    assert list(got) == [p.name for p in POLICIES]
    for policy in POLICIES:
        assert LEVEL_NAMES[got[policy.name].enforcementLevel] == policy.level, policy.name
        schema = json_format.MessageToDict(got[policy.name].configSchema.properties)
        assert {k: v["default"] for k, v in schema.items()} == policy.params, policy.name


@pytest.mark.parametrize("stack", STACKS)
def test_verdicts_equal_the_offline_plan(analyzer, plans, stack):
    plan = plans[stack]
    configure(analyzer, stack)
    through_protocol = [f for row in plan["resources"] for f in analyze(analyzer, stack, row)]
    through_protocol += analyze_stack(analyzer, stack, plan["resources"])
    in_plan = [(v["policy"], v["level"], v["resource"], v["message"]) for v in plan["violations"]]
    assert sorted(through_protocol, key=str) == sorted(in_plan, key=str), (
        f"stack {stack}: the pack under pulumi_policy disagrees with build/plan/{stack}.json, "
        + difference(in_plan, through_protocol)
    )


def _public_bucket(plan):
    row = row_of(plan, "gcp:storage/bucketIAMMember:BucketIAMMember")
    row["inputs"]["member"] = "allUsers"
    return row


def _primitive_role(plan):
    rows = [
        r
        for r in plan["resources"]
        if r["type"] == "gcp:projects/iAMMember:IAMMember"
        and r["inputs"]["member"].startswith("serviceAccount:")
    ]
    row = copy.deepcopy(rows[0])
    row["inputs"]["role"] = "roles/owner"
    return row


def _on_demand_gpu_pool(plan):
    row = gpu_pool(plan)
    row["inputs"]["nodeConfig"]["spot"] = False
    row["inputs"]["nodeConfig"].pop("preemptible", None)
    return row


def _oversized_gpu_pool(plan):
    row = gpu_pool(plan)
    row["inputs"]["autoscaling"]["totalMaxNodeCount"] = 500
    return row


def _gpu_machine_system_pool(plan):
    """No accelerators declared: the G2 machine series alone makes it a GPU pool."""
    rows = [
        r
        for r in plan["resources"]
        if r["type"] == "gcp:container/nodePool:NodePool" and r["name"].endswith("-system")
    ]
    row = copy.deepcopy(rows[0])
    row["inputs"]["nodeConfig"]["machineType"] = "g2-standard-8"
    assert "guestAccelerators" not in row["inputs"]["nodeConfig"]
    return row


def _world_open_control_plane(plan):
    row = row_of(plan, "gcp:container/cluster:Cluster")
    row["inputs"]["privateClusterConfig"]["enablePrivateEndpoint"] = False
    row["inputs"].pop("masterAuthorizedNetworksConfig", None)
    return row


def _unsafe_deployment(plan):
    row = row_of(plan, "kubernetes:apps/v1:Deployment")
    container = row["inputs"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "nginx:latest"
    container["securityContext"] = {"privileged": True}
    container.pop("readinessProbe", None)
    container.pop("livenessProbe", None)
    return row


DAY_MS = 86_400_000


def _request_logs_kept_forever(plan):
    row = row_of(plan, "gcp:bigquery/dataset:Dataset")
    row["inputs"].pop("defaultPartitionExpirationMs")
    row["inputs"].pop("defaultTableExpirationMs")
    return row


def _request_logs_kept_a_year(plan):
    row = row_of(plan, "gcp:bigquery/dataset:Dataset")
    row["inputs"]["defaultPartitionExpirationMs"] = 365 * DAY_MS
    return row


PLANTED = {
    "public-bucket": (_public_bucket, {"storage-no-public-access"}),
    "primitive-role": (_primitive_role, {"iam-no-primitive-roles"}),
    "on-demand-gpu-pool-in-dev": (_on_demand_gpu_pool, {"gpu-spot-outside-prod"}),
    "oversized-gpu-pool": (_oversized_gpu_pool, {"gpu-autoscaling-capped"}),
    "gpu-machine-system-pool-on-demand-in-dev": (
        _gpu_machine_system_pool,
        {"gpu-spot-outside-prod"},
    ),
    "world-open-control-plane": (_world_open_control_plane, {"gke-control-plane-access"}),
    "request-logs-kept-forever": (_request_logs_kept_forever, {"request-log-retention"}),
    "request-logs-kept-a-year": (_request_logs_kept_a_year, {"request-log-retention"}),
    "privileged-unprobed-latest-deployment": (
        _unsafe_deployment,
        {"k8s-no-privileged", "k8s-pinned-images", "k8s-probes"},
    ),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_violation_is_caught(analyzer, plans, case):
    plant, expected = PLANTED[case]
    row = plant(plans[PLANT_STACK])
    configure(analyzer, PLANT_STACK)
    found = analyze(analyzer, PLANT_STACK, row)
    fired = {policy for policy, level, _, _ in found if level == "mandatory"}
    assert fired == expected, f"{case}: expected {sorted(expected)} to fire, got {found}"
    expected_offline = [f for f in offline(PLANT_STACK, [row]) if f[2] is not None]  # no stack
    assert sorted(found) == sorted(expected_offline), f"{case}: " + difference(
        expected_offline, found
    )


def test_planted_budget_overrun_is_caught_by_the_stack_policy(analyzer, plans):
    stack = "prod"  # where the budget is mandatory
    rows = [r for r in plans[stack]["resources"] if r["name"] != gpu_pool(plans[stack])["name"]]
    rows.append(_oversized_gpu_pool(plans[stack]))
    configure(analyzer, stack)
    found = analyze_stack(analyzer, stack, rows)
    assert [f[0] for f in found] == ["gpu-monthly-budget"], found
    assert found == [f for f in offline(stack, rows) if f[0] == "gpu-monthly-budget"]


@pytest.mark.parametrize(("stack", "fires"), [("dev", True), ("prod", False)])
def test_retention_cap_is_the_stacks_policy_config(analyzer, plans, stack, fires):
    """20 days: over dev's cap (config/dev.json), within prod's; the cap reaches the pack
    through Configure, as `--policy-pack-config` sends it."""
    row = row_of(plans[stack], "gcp:bigquery/dataset:Dataset")
    for key in ("defaultPartitionExpirationMs", "defaultTableExpirationMs"):
        row["inputs"][key] = 20 * DAY_MS
    configure(analyzer, stack)
    found = analyze(analyzer, stack, row)
    assert bool([f for f in found if f[0] == "request-log-retention"]) is fires, found
    assert sorted(found) == sorted(f for f in offline(stack, [row]) if f[2] is not None)


def test_unknown_input_a_policy_does_not_read_changes_nothing(analyzer, plans):
    """In preview the pool's `cluster` is the cluster's name, unknown until it exists."""
    row = _on_demand_gpu_pool(plans[PLANT_STACK])
    configure(analyzer, PLANT_STACK)
    known = analyze(analyzer, PLANT_STACK, row)
    row["inputs"]["cluster"] = UNKNOWN_STRING
    unknown = analyze(analyzer, PLANT_STACK, row)
    assert known and unknown == known, f"known cluster: {known}\nunknown cluster: {unknown}"


def test_unknown_input_a_policy_reads_is_reported_not_passed(analyzer, plans):
    """Not a silent pass: the runtime reports the policy as not run, and `pulumi up` (known
    inputs) enforces it."""
    row = gpu_pool(plans[PLANT_STACK])
    row["inputs"]["nodeConfig"]["spot"] = UNKNOWN_BOOLEAN
    row["inputs"]["nodeConfig"].pop("preemptible", None)
    configure(analyzer, PLANT_STACK)
    found = analyze(analyzer, PLANT_STACK, row)
    assert [(f[0], f[1]) for f in found] == [("gpu-spot-outside-prod", "advisory")], found
    assert "can't run policy 'gpu-spot-outside-prod'" in found[0][3], found
    assert "nodeConfig.spot can't be known during preview" in found[0][3], found
