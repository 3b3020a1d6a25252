"""The guardrails as pure functions over resource properties (no Pulumi imports; PyYAML only to
read the GPU catalog).

Properties are what the Pulumi engine sees: camelCase and nested (`nodeConfig.spot`), the same in
CrossGuard during `pulumi preview` (policies/__main__.py) and in the offline plan
(policies/offline.py). A resource validator takes (props, params) and returns violation
messages; a stack validator takes every resource and returns (resource name, message) pairs.
Each policy's default level and parameters are declared here; policies/config/<stack>.json
overrides them per stack, in the format `pulumi preview --policy-pack-config` reads.

Properties are read as `Mapping` / `Sequence`, never as dict / list: under the CLI, pulumi_policy
hands validators read-only proxies (pulumi_policy/proxy.py), the offline plan plain dicts.

Unknown values (preview: an input computed from another resource's output) are not guessed at.
The proxy raises pulumi_policy's UnknownValueError when a validator reads one; nothing here
catches it, so the runtime reports that policy for that resource as "can't run ... during
preview" (an advisory diagnostic, never a silent pass), and `pulumi up`, whose inputs are known,
enforces it. Validators read only the keys they need (never copy whole props), so an unknown
input a policy does not look at changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.pricing import CATALOG_DIR, UnknownPriceError, load_prices, node_capacity

LEVELS = ("advisory", "mandatory", "disabled")

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
)
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
SA_KEY = "gcp:serviceaccount/key:Key"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
DATASET = "gcp:bigquery/dataset:Dataset"
DAY_MS = 24 * 60 * 60 * 1000
WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:core/v1:Pod",
)
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_SELECTOR = "cloud.google.com/gke-accelerator"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
SECRET_NAME_RE = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY|CREDENTIALS)", re.I)
# `HF_TOKEN_PATH=/var/run/...` points at a mounted secret: a reference, not the secret.
SECRET_REFERENCE_RE = re.compile(r"_(PATH|FILE|DIR)$", re.I)

Props = Mapping[str, Any]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class PlanResource:
    """A resource as a stack policy sees it."""

    type: str
    name: str
    props: Props


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    level: str
    resource_types: tuple[str, ...]
    validate: Callable[..., Any]
    params: Params = field(default_factory=dict)
    stack: bool = False


def get(props: Any, path: str, default: Any = None) -> Any:
    """`get(props, "nodeConfig.spot")`: a nested value, or `default` when any step is missing."""
    value = props
    for key in path.split("."):
        if not isinstance(value, Mapping) or value.get(key) is None:
            return default
        value = value[key]
    return value


def mapping(props: Any, path: str) -> Mapping[str, Any]:
    """The mapping at `path`, or an empty one (missing, or not a mapping)."""
    value = get(props, path)
    return value if isinstance(value, Mapping) else {}


def items(props: Any, path: str) -> Sequence[Any]:
    """The list at `path`, or an empty one; a string is not a list of characters here."""
    value = get(props, path)
    return value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else ()


def members(props: Props) -> list[Any]:
    """IAM binding `members`, or the member's single `member`."""
    return list(items(props, "members")) or [props.get("member")]


# --- GPU node pools ---------------------------------------------------------------------------


def gpu_machine_series() -> frozenset[str]:
    """Machine series that carry GPUs (`a2`, `a3`, `g2`, ...): every machine the GPU price table
    (catalog/, the table the GPU catalog's machine types are priced from) lists."""
    return frozenset(machine.split("-")[0] for machine, _ in load_prices().rows)


def is_gpu_machine(machine_type: Any) -> bool:
    return isinstance(machine_type, str) and machine_type.split("-")[0] in gpu_machine_series()


def is_gpu_pool(props: Props) -> bool:
    """Declared accelerators, or a GPU machine series (A2/A3/G2 attach their GPUs themselves)."""
    return bool(get(props, "nodeConfig.guestAccelerators")) or is_gpu_machine(
        get(props, "nodeConfig.machineType")
    )


def pool_max_nodes(props: Props) -> int | None:
    """Most nodes the pool can reach: the total cap, or per-zone cap x zones; None = no cap."""
    autoscaling = mapping(props, "autoscaling")
    if autoscaling.get("totalMaxNodeCount") is not None:
        return int(autoscaling["totalMaxNodeCount"])
    if autoscaling.get("maxNodeCount") is not None:
        zones = len(items(props, "nodeLocations")) or 3
        return int(autoscaling["maxNodeCount"]) * zones
    return None


def gpu_autoscaling_capped(props: Props, params: Params) -> list[str]:
    if not is_gpu_pool(props):
        return []
    if not mapping(props, "autoscaling"):
        return [
            "GPU node pool has no autoscaling: set autoscaling with a node cap, min 0 outside prod"
        ]
    most = pool_max_nodes(props)
    if most is None:
        return ["GPU node pool autoscaling has no maximum (totalMaxNodeCount)"]
    if most > params["maxNodes"]:
        return [f"GPU node pool may grow to {most} nodes; the cap is {params['maxNodes']}"]
    return []


def gpu_allowed_types(props: Props, params: Params) -> list[str]:
    return [
        f"GPU type {get(acc, 'type')!r} is not allowed (allowed: {params['allowedGpuTypes']})"
        for acc in items(props, "nodeConfig.guestAccelerators")
        if get(acc, "type") not in params["allowedGpuTypes"]
    ]


def gpu_spot_outside_prod(props: Props, params: Params) -> list[str]:
    if not is_gpu_pool(props):
        return []
    environment = get(props, "nodeConfig.resourceLabels.environment", "")
    # Flex-start is discounted and a reservation is paid for anyway: only on-demand is refused.
    on_demand = node_capacity(mapping(props, "nodeConfig")) == "on-demand"
    if environment not in params["exemptEnvironments"] and on_demand:
        return [
            f"GPU node pool in environment {environment or '(unlabelled)'!r} is on-demand; use"
            f" Spot, flex-start or a reservation outside {params['exemptEnvironments']}"
        ]
    return []


def cost_labels(props: Props, params: Params, labels_path: str) -> list[str]:
    labels = mapping(props, labels_path)
    missing = [key for key in params["requiredLabels"] if not labels.get(key)]
    return [f"missing cost labels {missing} in {labels_path}"] if missing else []


LABEL_PATHS = {
    NODE_POOL: "nodeConfig.resourceLabels",
    CLUSTER: "resourceLabels",
    BUCKET: "labels",
    REPOSITORY: "labels",
    DATASET: "labels",
}


def billable_cost_labels(resource_type: str, props: Props, params: Params) -> list[str]:
    return cost_labels(props, params, LABEL_PATHS[resource_type])


# --- GKE ---------------------------------------------------------------------------------------


def gke_workload_identity(resource_type: str, props: Props, params: Params) -> list[str]:
    if resource_type == CLUSTER:
        if not get(props, "workloadIdentityConfig.workloadPool"):
            return ["cluster has no Workload Identity (workloadIdentityConfig.workloadPool)"]
        return []
    mode = get(props, "nodeConfig.workloadMetadataConfig.mode")
    if mode != "GKE_METADATA":
        return [
            f"node pool metadata mode is {mode!r}; GKE_METADATA keeps pods off the node identity"
        ]
    return []


def gke_private_nodes(props: Props, params: Params) -> list[str]:
    if get(props, "privateClusterConfig.enablePrivateNodes") is not True:
        return ["cluster nodes have public IPs: set privateClusterConfig.enablePrivateNodes"]
    return []


WORLD = ("0.0.0.0/0", "::/0")


def gke_control_plane_access(props: Props, params: Params) -> list[str]:
    """A public IP endpoint accepts only listed networks, never the whole internet."""
    if get(props, "controlPlaneEndpointsConfig.ipEndpointsConfig.enabled") is False:
        return []  # no IP endpoint at all: DNS endpoint only
    if get(props, "privateClusterConfig.enablePrivateEndpoint") is True:
        return []  # the IP endpoint is private (VPC only)
    blocks = [
        get(block, "cidrBlock")
        for block in items(props, "masterAuthorizedNetworksConfig.cidrBlocks")
    ]
    if not blocks:
        return [
            "the control plane's public IP endpoint accepts the whole internet: set"
            " privateClusterConfig.enablePrivateEndpoint (clients use the DNS endpoint with IAM)"
            " or masterAuthorizedNetworksConfig"
        ]
    world = [block for block in blocks if block in WORLD]
    if world:
        return [f"masterAuthorizedNetworksConfig allows {world}: the whole internet"]
    return []


def gke_shielded_nodes(props: Props, params: Params) -> list[str]:
    if props.get("enableShieldedNodes") is False:
        return ["shielded nodes are disabled (enableShieldedNodes: false)"]
    return []


def gke_release_channel(props: Props, params: Params) -> list[str]:
    channel = get(props, "releaseChannel.channel")
    if channel not in params["allowedChannels"]:
        return [f"release channel {channel!r}; use one of {params['allowedChannels']}"]
    return []


def gke_no_legacy_auth(props: Props, params: Params) -> list[str]:
    problems = []
    if props.get("enableLegacyAbac") is True:
        problems.append("legacy ABAC is enabled")
    if get(props, "masterAuth.clientCertificateConfig.issueClientCertificate") is True:
        problems.append("client certificates are issued (masterAuth.clientCertificateConfig)")
    if get(props, "masterAuth.username") or get(props, "masterAuth.password"):
        problems.append("basic auth is configured (masterAuth.username/password)")
    return problems


# --- Storage -----------------------------------------------------------------------------------


def storage_uniform_access(props: Props, params: Params) -> list[str]:
    if props.get("uniformBucketLevelAccess") is not True:
        return ["bucket uses ACLs: set uniformBucketLevelAccess: true"]
    return []


def storage_no_public_access(resource_type: str, props: Props, params: Params) -> list[str]:
    if resource_type == BUCKET:
        if props.get("publicAccessPrevention") != "enforced":
            value = props.get("publicAccessPrevention")
            return [f"publicAccessPrevention is {value!r}; it must be 'enforced'"]
        return []
    public = [m for m in members(props) if m in PUBLIC_MEMBERS]
    return [f"bucket granted to {public}: buckets are never public"] if public else []


def storage_model_versioning(props: Props, params: Params) -> list[str]:
    purpose = get(props, "labels.purpose")
    if purpose in params["versionedPurposes"] and get(props, "versioning.enabled") is not True:
        return [f"bucket with purpose {purpose!r} must have versioning enabled"]
    return []


# --- Request logs (personal data) --------------------------------------------------------------


def _days(ms: Any) -> float:
    return float(ms) / DAY_MS


def _dataset_retention(props: Props, most: float) -> list[str]:
    # Partitioned tables (the log sink's) expire by partition, others as whole tables; a
    # partitioned table ignores the table default, so both must be set (BigQuery Dataset docs).
    problems = []
    for key in ("defaultPartitionExpirationMs", "defaultTableExpirationMs"):
        value = props.get(key)
        if value is None:
            problems.append(f"request-log dataset has no {key}: its logs are never deleted")
        elif _days(value) > most:
            problems.append(
                f"request-log dataset keeps logs {_days(value):g} days ({key}); at most"
                f" {most:g} days"
            )
    return problems


def _bucket_retention(props: Props, most: float) -> list[str]:
    ages = [
        get(rule, "condition.age")
        for rule in items(props, "lifecycleRules")
        if get(rule, "action.type") == "Delete"
        and get(rule, "condition.age") is not None
        and not items(rule, "condition.matchesPrefix")
        and not items(rule, "condition.matchesSuffix")
    ]
    if not ages:
        return ["request-log bucket has no lifecycle rule that deletes every object by age"]
    problems = []
    if min(ages) > most:
        problems.append(
            f"request-log bucket deletes objects after {min(ages)} days; at most {most:g}"
        )
    if get(props, "versioning.enabled") is True:
        problems.append("request-log bucket keeps versions: deleted logs would live on as copies")
    return problems


def request_log_retention(resource_type: str, props: Props, params: Params) -> list[str]:
    """Stores labelled with a request-log purpose expire what they hold within the maximum."""
    if get(props, "labels.purpose") not in params["requestLogPurposes"]:
        return []
    most = float(params["maxRetentionDays"])
    if resource_type == DATASET:
        return _dataset_retention(props, most)
    return _bucket_retention(props, most)


# --- IAM ---------------------------------------------------------------------------------------


def iam_no_primitive_roles(props: Props, params: Params) -> list[str]:
    accounts = [m for m in members(props) if isinstance(m, str) and m.startswith("serviceAccount:")]
    role = props.get("role")
    if accounts and role in params["forbiddenRoles"]:
        return [f"{role} granted to {accounts}: grant the specific roles the identity needs"]
    return []


def iam_no_service_account_keys(props: Props, params: Params) -> list[str]:
    return [
        "service-account keys are long-lived secrets: use Workload Identity (pods) or Workload"
        " Identity Federation (CI) instead"
    ]


def iam_wif_attribute_condition(props: Props, params: Params) -> list[str]:
    condition = get(props, "attributeCondition", "")
    if not isinstance(condition, str) or not condition.strip():
        return ["workload identity provider has no attributeCondition: any repository could use it"]
    if not any(attr in condition for attr in params["requiredAttributes"]):
        return [f"attributeCondition {condition!r} does not check {params['requiredAttributes']}"]
    return []


# --- Kubernetes serving workloads --------------------------------------------------------------


def pod_spec(resource_type: str, props: Props) -> Props:
    if resource_type == "kubernetes:core/v1:Pod":
        return mapping(props, "spec")
    return mapping(props, "spec.template.spec")


def _containers(resource_type: str, props: Props) -> list[Props]:
    spec = pod_spec(resource_type, props)
    return [*items(spec, "containers"), *items(spec, "initContainers")]


def _wants_gpu(spec: Props) -> bool:
    # Key lookups only: a node selector's value may be unknown in preview and is not needed.
    selector = set(mapping(spec, "nodeSelector"))
    tolerations = items(spec, "tolerations")
    return GPU_NODE_SELECTOR in selector or any(get(t, "key") == GPU_RESOURCE for t in tolerations)


def k8s_resources(resource_type: str, props: Props, params: Params) -> list[str]:
    spec = pod_spec(resource_type, props)
    problems = []
    for container in items(spec, "containers"):
        name = get(container, "name", "?")
        for kind, required in (
            ("requests", params["requiredRequests"]),
            ("limits", params["requiredLimits"]),
        ):
            present = set(mapping(container, f"resources.{kind}"))  # names only, not quantities
            missing = [r for r in required if r not in present]
            if missing:
                problems.append(f"container {name!r} has no {kind} for {missing}")
        if _wants_gpu(spec) and GPU_RESOURCE not in set(mapping(container, "resources.limits")):
            problems.append(f"container {name!r} runs on GPU nodes without a {GPU_RESOURCE} limit")
    return problems


def k8s_no_privileged(resource_type: str, props: Props, params: Params) -> list[str]:
    problems = []
    spec = pod_spec(resource_type, props)
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if get(spec, flag) is True:
            problems.append(f"pod uses {flag}")
    for container in _containers(resource_type, props):
        context = mapping(container, "securityContext")
        name = get(container, "name", "?")
        if context.get("privileged") is True:
            problems.append(f"container {name!r} is privileged")
        if context.get("allowPrivilegeEscalation") is True:
            problems.append(f"container {name!r} allows privilege escalation")
    return problems


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def k8s_pinned_images(resource_type: str, props: Props, params: Params) -> list[str]:
    return [
        f"container {get(c, 'name', '?')!r} image {get(c, 'image')!r} is not pinned (tag or digest,"
        " never 'latest')"
        for c in _containers(resource_type, props)
        if not image_is_pinned(str(get(c, "image", "")))
    ]


def k8s_probes(resource_type: str, props: Props, params: Params) -> list[str]:
    if resource_type == "kubernetes:batch/v1:Job":
        return []
    spec = pod_spec(resource_type, props)
    return [
        f"container {get(c, 'name', '?')!r} lacks {probe}"
        for c in items(spec, "containers")
        for probe in params["requiredProbes"]
        if not get(c, probe)
    ]


def k8s_secrets_from_refs(resource_type: str, props: Props, params: Params) -> list[str]:
    return [
        f"container {get(c, 'name', '?')!r} sets {get(env, 'name')!r} as a literal; read it from a"
        " Secret (valueFrom.secretKeyRef)"
        for c in _containers(resource_type, props)
        for env in items(c, "env")
        if SECRET_NAME_RE.search(str(get(env, "name", "")))
        and not SECRET_REFERENCE_RE.search(str(get(env, "name", "")))
        and get(env, "value")
    ]


# --- Stack: GPU budget ------------------------------------------------------------------------


def region_of(location: str) -> str:
    """`us-central1-a` -> `us-central1`; a region stays as it is."""
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) > 2 else location


def gpu_pool_costs(resources: list[PlanResource]) -> list[dict[str, Any]]:
    """Monthly price of each GPU pool at its minimum and maximum size, from the price table.

    Raises UnknownPriceError for a machine type or region the table does not have.
    """
    prices = load_prices()
    costs = []
    for resource in resources:
        if resource.type != NODE_POOL or not is_gpu_pool(resource.props):
            continue
        props = resource.props
        machine = get(props, "nodeConfig.machineType", "")
        region = region_of(str(props.get("location", "")))
        capacity = node_capacity(mapping(props, "nodeConfig"))
        spot = capacity == "spot"
        per_node = prices.monthly(machine, region, spot)
        most = pool_max_nodes(props)
        least = int(get(props, "autoscaling.totalMinNodeCount", 0) or 0)
        costs.append(
            {
                "resource": resource.name,
                "machine_type": machine,
                "region": region,
                "spot": spot,
                "capacity": capacity,
                "min_nodes": least,
                "max_nodes": most,
                "monthly_usd_per_node": round(per_node, 2),
                "monthly_usd_min": round(per_node * least, 2),
                "monthly_usd_max": None if most is None else round(per_node * most, 2),
                "price_table": prices.date,
            }
        )
    return costs


def gpu_monthly_budget(
    resources: list[PlanResource], params: Params
) -> list[tuple[str | None, str]]:
    try:
        costs = gpu_pool_costs(resources)
    except UnknownPriceError as error:
        return [(None, f"cannot price the GPU pools: {error}")]
    unbounded = [c["resource"] for c in costs if c["monthly_usd_max"] is None]
    if unbounded:
        return [(None, f"GPU pools without a node cap cannot be budgeted: {unbounded}")]
    total = sum(c["monthly_usd_max"] for c in costs)
    budget = params["maxMonthlyUsd"]
    if total > budget:
        table = costs[0]["price_table"] if costs else "?"
        return [
            (
                None,
                f"GPU pools at their maximum size cost ${total:,.0f}/month (price table {table}),"
                f" over the ${budget:,.0f} budget",
            )
        ]
    return []


# --- The pack ----------------------------------------------------------------------------------


def catalog_gpu_types(path: Path = CATALOG_DIR / "gpu_availability.yaml") -> list[str]:
    """The GPU types the catalog knows: the default allow-list (one list, in catalog/)."""
    import yaml  # in the infra env and policies/requirements.txt, the envs that run the pack

    return sorted(yaml.safe_load(path.read_text())["gpus"])


ALLOWED_GPUS = catalog_gpu_types()
LABELS = {"requiredLabels": ["team", "cost-center", "environment"]}

POLICIES: tuple[Policy, ...] = (
    Policy(
        "gpu-autoscaling-capped",
        "GPU node pools autoscale and have a node cap",
        "mandatory",
        (NODE_POOL,),
        gpu_autoscaling_capped,
        {"maxNodes": 64},
    ),
    Policy(
        "gpu-allowed-types",
        "GPU node pools use an approved GPU type",
        "mandatory",
        (NODE_POOL,),
        gpu_allowed_types,
        {"allowedGpuTypes": ALLOWED_GPUS},
    ),
    Policy(
        "gpu-spot-outside-prod",
        "GPU node pools use Spot VMs outside production",
        "mandatory",
        (NODE_POOL,),
        gpu_spot_outside_prod,
        {"exemptEnvironments": ["prod"]},
    ),
    Policy(
        "cost-labels",
        "Billable resources carry team, cost-center and environment labels",
        "mandatory",
        tuple(LABEL_PATHS),
        billable_cost_labels,
        dict(LABELS),
    ),
    Policy(
        "gke-workload-identity",
        "Workload Identity on the cluster and the GKE metadata server on every node pool",
        "mandatory",
        (CLUSTER, NODE_POOL),
        gke_workload_identity,
    ),
    Policy(
        "gke-private-nodes",
        "Cluster nodes have no public IP addresses",
        "mandatory",
        (CLUSTER,),
        gke_private_nodes,
    ),
    Policy(
        "gke-control-plane-access",
        "The control plane's public IP endpoint, if any, accepts listed networks only",
        "mandatory",
        (CLUSTER,),
        gke_control_plane_access,
    ),
    Policy(
        "gke-shielded-nodes",
        "Shielded GKE nodes stay enabled",
        "mandatory",
        (CLUSTER,),
        gke_shielded_nodes,
    ),
    Policy(
        "gke-release-channel",
        "The cluster follows a release channel (automatic security upgrades)",
        "mandatory",
        (CLUSTER,),
        gke_release_channel,
        {"allowedChannels": ["RAPID", "REGULAR", "STABLE", "EXTENDED"]},
    ),
    Policy(
        "gke-no-legacy-auth",
        "No legacy ABAC, client certificates or basic auth on the cluster",
        "mandatory",
        (CLUSTER,),
        gke_no_legacy_auth,
    ),
    Policy(
        "storage-uniform-access",
        "Buckets use uniform bucket-level access (IAM only, no ACLs)",
        "mandatory",
        (BUCKET,),
        storage_uniform_access,
    ),
    Policy(
        "storage-no-public-access",
        "Buckets enforce public access prevention and are never granted to allUsers",
        "mandatory",
        (BUCKET, *BUCKET_IAM),
        storage_no_public_access,
    ),
    Policy(
        "storage-model-versioning",
        "Buckets that hold models keep object versions",
        "mandatory",
        (BUCKET,),
        storage_model_versioning,
        {"versionedPurposes": ["models"]},
    ),
    Policy(
        "request-log-retention",
        "Request logs (prompts: personal data) expire within the maximum retention",
        "mandatory",
        (DATASET, BUCKET),
        request_log_retention,
        {"maxRetentionDays": 30, "requestLogPurposes": ["request-logs"]},
    ),
    Policy(
        "iam-no-primitive-roles",
        "Service accounts never get primitive roles (owner, editor)",
        "mandatory",
        PROJECT_IAM,
        iam_no_primitive_roles,
        {"forbiddenRoles": ["roles/owner", "roles/editor"]},
    ),
    Policy(
        "iam-no-service-account-keys",
        "No service-account keys (Workload Identity and WIF instead)",
        "mandatory",
        (SA_KEY,),
        iam_no_service_account_keys,
    ),
    Policy(
        "iam-wif-attribute-condition",
        "Workload Identity Federation providers restrict who may use them",
        "mandatory",
        (WIF_PROVIDER,),
        iam_wif_attribute_condition,
        {"requiredAttributes": ["assertion.repository", "attribute.repository"]},
    ),
    Policy(
        "k8s-resources",
        "Containers request CPU and memory, limit memory, and limit GPUs on GPU nodes",
        "mandatory",
        WORKLOADS,
        k8s_resources,
        # No CPU limit by default: throttling hurts token latency; a memory limit stops OOM spread.
        {"requiredRequests": ["cpu", "memory"], "requiredLimits": ["memory"]},
    ),
    Policy(
        "k8s-no-privileged",
        "No privileged containers, privilege escalation or host namespaces",
        "mandatory",
        WORKLOADS,
        k8s_no_privileged,
    ),
    Policy(
        "k8s-pinned-images",
        "Container images are pinned by tag or digest, never 'latest'",
        "mandatory",
        WORKLOADS,
        k8s_pinned_images,
    ),
    Policy(
        "k8s-probes",
        "Long-running containers have readiness and liveness probes",
        "mandatory",
        WORKLOADS,
        k8s_probes,
        {"requiredProbes": ["readinessProbe", "livenessProbe"]},
    ),
    Policy(
        "k8s-secrets-from-refs",
        "Tokens and passwords come from Secrets, never literal env values",
        "mandatory",
        WORKLOADS,
        k8s_secrets_from_refs,
    ),
    Policy(
        "gpu-monthly-budget",
        "The GPU node pools at their maximum size fit the monthly budget",
        "advisory",
        (),
        gpu_monthly_budget,
        {"maxMonthlyUsd": 10000},
        stack=True,
    ),
)

# Validators that need the resource type as their first argument.
TYPED = {
    billable_cost_labels,
    gke_workload_identity,
    storage_no_public_access,
    request_log_retention,
    k8s_resources,
    k8s_no_privileged,
    k8s_pinned_images,
    k8s_probes,
    k8s_secrets_from_refs,
}


def check_resource(policy: Policy, resource_type: str, props: Props, params: Params) -> list[str]:
    """Run one resource policy on one resource (empty when it does not apply)."""
    if policy.stack or resource_type not in policy.resource_types:
        return []
    if policy.validate in TYPED:
        return list(policy.validate(resource_type, props, params))
    return list(policy.validate(props, params))


def by_name() -> dict[str, Policy]:
    return {policy.name: policy for policy in POLICIES}
