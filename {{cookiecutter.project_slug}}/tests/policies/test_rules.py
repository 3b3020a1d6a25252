"""Each policy: the resource the real program declares complies; one mutated field per rule
violates it. The valid-resource factory is the dev stack's own recording."""

from __future__ import annotations

import copy

import pytest

from infra.config import load_stack_config
from infra.plan import record_stack, resource_rows
from policies.offline import defaults, evaluate
from policies.rules import POLICIES, PlanResource, by_name, check_resource, image_is_pinned


@pytest.fixture(scope="module")
def plan() -> list[PlanResource]:
    rows = resource_rows(record_stack(load_stack_config("dev")))
    return [PlanResource(r["type"], r["name"], r["inputs"]) for r in rows]


def first(plan, type_, where=lambda r: True) -> PlanResource:
    return copy.deepcopy(next(r for r in plan if r.type == type_ and where(r)))


def gpu_pool(plan):
    return first(plan, "gcp:container/nodePool:NodePool", lambda r: "gpu" in r.name)


def violations(policy_name, resource, **params):
    policy = by_name()[policy_name]
    return check_resource(policy, resource.type, resource.props, {**policy.params, **params})


def test_the_committed_dev_stack_complies(plan):
    assert evaluate(plan, defaults()) == []


def test_every_policy_applies_to_something_in_the_plan(plan):
    types = {r.type for r in plan}
    for policy in POLICIES:
        if not policy.stack and policy.name != "iam-no-service-account-keys":
            assert types & set(policy.resource_types), policy.name


def test_policies_have_unique_names_and_levels():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    assert all(p.level in ("advisory", "mandatory") for p in POLICIES)


# (policy, resource picker, mutation) -> one violation each
def drop(path):
    def mutate(props):
        *parents, last = path.split(".")
        for key in parents:
            props = props[key]
        del props[last]

    return mutate


def setter(path, value):
    def mutate(props):
        *parents, last = path.split(".")
        for key in parents:
            props = props[key]
        props[last] = value

    return mutate


POOL = "pool"
CLUSTER = "cluster"
MODELS = "models"
IAM = "iam"
WIF = "wif"
DEPLOY = "deploy"
LOGS = "logs"
CASES = [
    ("gpu-autoscaling-capped", POOL, drop("autoscaling")),
    ("gpu-autoscaling-capped", POOL, setter("autoscaling.totalMaxNodeCount", 500)),
    ("gpu-autoscaling-capped", POOL, drop("autoscaling.totalMaxNodeCount")),
    (
        "gpu-allowed-types",
        POOL,
        lambda p: p["nodeConfig"]["guestAccelerators"][0].update(type="nvidia-tesla-k80"),
    ),
    ("gpu-spot-outside-prod", POOL, setter("nodeConfig.spot", False)),
    ("cost-labels", POOL, lambda p: p["nodeConfig"]["resourceLabels"].pop("team")),
    ("cost-labels", MODELS, lambda p: p["labels"].pop("cost-center")),
    ("cost-labels", CLUSTER, lambda p: p["resourceLabels"].pop("environment")),
    ("gke-workload-identity", CLUSTER, drop("workloadIdentityConfig")),
    (
        "gke-workload-identity",
        POOL,
        setter("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
    ),
    ("gke-private-nodes", CLUSTER, setter("privateClusterConfig.enablePrivateNodes", False)),
    ("gke-shielded-nodes", CLUSTER, setter("enableShieldedNodes", False)),
    (
        "gke-control-plane-access",
        CLUSTER,
        setter("privateClusterConfig.enablePrivateEndpoint", False),
    ),
    ("gke-release-channel", CLUSTER, setter("releaseChannel.channel", "UNSPECIFIED")),
    ("gke-no-legacy-auth", CLUSTER, setter("enableLegacyAbac", True)),
    (
        "gke-no-legacy-auth",
        CLUSTER,
        setter("masterAuth.clientCertificateConfig.issueClientCertificate", True),
    ),
    ("storage-uniform-access", MODELS, setter("uniformBucketLevelAccess", False)),
    ("storage-no-public-access", MODELS, setter("publicAccessPrevention", "inherited")),
    ("storage-model-versioning", MODELS, setter("versioning.enabled", False)),
    ("cost-labels", LOGS, lambda p: p["labels"].pop("team")),
    ("request-log-retention", LOGS, drop("defaultPartitionExpirationMs")),
    ("request-log-retention", LOGS, drop("defaultTableExpirationMs")),
    ("request-log-retention", LOGS, setter("defaultPartitionExpirationMs", 400 * 86_400_000)),
    ("iam-no-primitive-roles", IAM, setter("role", "roles/editor")),
    ("iam-no-primitive-roles", IAM, setter("role", "roles/owner")),
    ("iam-wif-attribute-condition", WIF, setter("attributeCondition", "")),
    ("iam-wif-attribute-condition", WIF, setter("attributeCondition", "assertion.actor == 'me'")),
    (
        "k8s-resources",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0]["resources"].pop("requests"),
    ),
    (
        "k8s-resources",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].pop(
            "nvidia.com/gpu"
        ),
    ),
    (
        "k8s-no-privileged",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
            privileged=True
        ),
    ),
    ("k8s-no-privileged", DEPLOY, lambda p: p["spec"]["template"]["spec"].update(hostNetwork=True)),
    (
        "k8s-pinned-images",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0].update(
            image="vllm/vllm-openai:latest"
        ),
    ),
    (
        "k8s-pinned-images",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0].update(image="vllm/vllm-openai"),
    ),
    (
        "k8s-probes",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"),
    ),
    (
        "k8s-secrets-from-refs",
        DEPLOY,
        lambda p: p["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "HF_TOKEN", "value": "hf_abc"}
        ),
    ),
]


def pick(plan, kind) -> PlanResource:
    if kind == POOL:
        return gpu_pool(plan)
    if kind == CLUSTER:
        return first(plan, "gcp:container/cluster:Cluster")
    if kind == MODELS:
        return first(
            plan, "gcp:storage/bucket:Bucket", lambda r: r.props["labels"]["purpose"] == "models"
        )
    if kind == IAM:
        return first(plan, "gcp:projects/iAMMember:IAMMember")
    if kind == LOGS:
        return first(plan, "gcp:bigquery/dataset:Dataset")
    if kind == WIF:
        return first(plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    return first(
        plan,
        "kubernetes:apps/v1:Deployment",
        lambda r: r.props["metadata"]["name"].startswith("vllm"),
    )


@pytest.mark.parametrize(
    ("policy", "kind", "mutate"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_one_violation_per_rule(plan, policy, kind, mutate):
    resource = pick(plan, kind)
    assert violations(policy, resource) == [], "the compliant resource must pass"
    mutate(resource.props)
    found = violations(policy, resource)
    assert found and all(isinstance(m, str) and m for m in found)


def test_public_bucket_grant_violates():
    grant = PlanResource(
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "g",
        {"role": "roles/storage.objectViewer", "member": "allUsers"},
    )
    assert violations("storage-no-public-access", grant)


def test_service_account_key_violates():
    key = PlanResource("gcp:serviceaccount/key:Key", "k", {"serviceAccountId": "x"})
    assert violations("iam-no-service-account-keys", key)


def test_spot_exemption_and_params(plan):
    pool = gpu_pool(plan)
    pool.props["nodeConfig"]["spot"] = False
    pool.props["nodeConfig"]["resourceLabels"]["environment"] = "prod"
    assert violations("gpu-spot-outside-prod", pool) == []
    pool.props["autoscaling"]["totalMaxNodeCount"] = 10
    assert violations("gpu-autoscaling-capped", pool, maxNodes=8)
    assert violations("gpu-autoscaling-capped", pool, maxNodes=10) == []


def test_per_zone_cap_counts_every_zone(plan):
    pool = gpu_pool(plan)
    pool.props["autoscaling"] = {"minNodeCount": 0, "maxNodeCount": 30}
    pool.props["nodeLocations"] = ["a", "b", "c"]
    assert "90 nodes" in violations("gpu-autoscaling-capped", pool)[0]


def system_pool(plan):
    return first(plan, "gcp:container/nodePool:NodePool", lambda r: r.name.endswith("-system"))


def test_a_gpu_machine_without_accelerators_is_a_gpu_pool(plan):
    """A2/A3/G2 machines attach their GPUs themselves: the system pool on g2-standard-8 is a
    GPU pool for every GPU rule and the budget (machine series from the GPU price table)."""
    pool = system_pool(plan)
    assert violations("gpu-spot-outside-prod", pool) == []
    pool.props["nodeConfig"]["machineType"] = "g2-standard-8"
    assert "guestAccelerators" not in pool.props["nodeConfig"]
    assert violations("gpu-spot-outside-prod", pool)
    assert violations("gpu-autoscaling-capped", pool, maxNodes=1)
    budget = by_name()["gpu-monthly-budget"]
    assert budget.validate([pool], {"maxMonthlyUsd": 1}), "the system pool is now priced"
    pool.props["nodeConfig"]["machineType"] = "e2-standard-4"
    assert budget.validate([pool], {"maxMonthlyUsd": 1}) == []


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (setter("privateClusterConfig.enablePrivateEndpoint", False), "whole internet"),
        (
            lambda p: p.update(
                privateClusterConfig={**p["privateClusterConfig"], "enablePrivateEndpoint": False},
                masterAuthorizedNetworksConfig={"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]},
            ),
            "['0.0.0.0/0']",
        ),
    ],
)
def test_control_plane_public_endpoint_needs_listed_networks(plan, mutate, needle):
    cluster = first(plan, "gcp:container/cluster:Cluster")
    assert violations("gke-control-plane-access", cluster) == []  # private IP + DNS endpoint
    mutate(cluster.props)
    found = violations("gke-control-plane-access", cluster)
    assert len(found) == 1 and needle in found[0], found
    cluster.props["masterAuthorizedNetworksConfig"] = {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]
    }
    assert violations("gke-control-plane-access", cluster) == []
    cluster.props["controlPlaneEndpointsConfig"]["ipEndpointsConfig"]["enabled"] = False
    cluster.props.pop("masterAuthorizedNetworksConfig")
    assert violations("gke-control-plane-access", cluster) == []  # DNS endpoint only


def test_extended_release_channel_is_allowed(plan):
    cluster = first(plan, "gcp:container/cluster:Cluster")
    cluster.props["releaseChannel"]["channel"] = "EXTENDED"
    assert violations("gke-release-channel", cluster) == []


def test_gpu_budget(plan):
    budget = by_name()["gpu-monthly-budget"]
    assert budget.validate(plan, {"maxMonthlyUsd": 100000}) == []
    over = budget.validate(plan, {"maxMonthlyUsd": 10})
    assert over and "over the $10 budget" in over[0][1] and "2026-07-30" in over[0][1]
    pool = gpu_pool(plan)
    pool.props["nodeConfig"]["machineType"] = "n1-standard-4"
    unknown = budget.validate([pool], {"maxMonthlyUsd": 100000})
    assert "cannot price" in unknown[0][1] and "n1-standard-4" in unknown[0][1]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("vllm/vllm-openai:v0.11.0", True),
        ("us-docker.pkg.dev/p/r/vllm@sha256:" + "a" * 64, True),
        ("localhost:5000/vllm", False),
        ("vllm/vllm-openai:latest", False),
        ("", False),
    ],
)
def test_image_pinning(image, pinned):
    assert image_is_pinned(image) is pinned


@pytest.mark.parametrize(
    ("node_config", "capacity", "violates"),
    [
        ({"spot": True}, "spot", False),
        ({"spot": False, "flexStart": True}, "flex-start", False),
        (
            {
                "spot": False,
                "reservationAffinity": {
                    "consumeReservationType": "SPECIFIC_RESERVATION",
                    "key": "compute.googleapis.com/reservation-name",
                    "values": ["r1"],
                },
            },
            "reservation",
            False,
        ),
        (
            {"spot": False, "reservationAffinity": {"consumeReservationType": "ANY_RESERVATION"}},
            "on-demand",
            True,
        ),
        ({"spot": False}, "on-demand", True),
    ],
)
def test_capacity_options_outside_prod_and_their_price(plan, node_config, capacity, violates):
    """Only on-demand is refused outside prod; flex-start and reservations are priced at
    on-demand (an upper bound), Spot at its own column."""
    from policies.rules import gpu_pool_costs

    pool = gpu_pool(plan)
    pool.props["nodeConfig"] = {**pool.props["nodeConfig"], **node_config}
    assert bool(violations("gpu-spot-outside-prod", pool)) is violates
    (priced,) = gpu_pool_costs([pool])
    assert priced["capacity"] == capacity and priced["spot"] is (capacity == "spot")
