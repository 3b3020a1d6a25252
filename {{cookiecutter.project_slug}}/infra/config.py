"""Typed stack configuration (infra/Pulumi.<stack>.yaml), validated before any resource exists.

Every key lives in the project's namespace (`<project>:gpu_pools`, ...). Field rules are pydantic
constraints; rules that need the GPU catalog or span fields are model validators. Any problem is
reported as `field=value: rule`, all problems at once, and nothing is declared.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.catalog import load_catalog

INFRA_DIR = Path(__file__).resolve().parent
PROJECT_FILE = INFRA_DIR / "Pulumi.yaml"
# An environment is a tier of stacks (dev, staging, prod, qa...): a short name in labels and in
# every resource name (`<project>-<environment>-...`), so lowercase letters and digits only.
ENVIRONMENT_RE = re.compile(r"^[a-z][a-z0-9]{1,9}$")
IDENTITIES = ("nodes", "serving", "pipelines", "ci", "monitor", "metrics")

PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DNS_LABEL_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
LABEL_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
ROLE_RE = re.compile(r"^(roles|projects/[a-z0-9-]+/roles|organizations/\d+/roles)/[A-Za-z0-9_.]+$")
# GKE caps a node pool at 1000 nodes per zone; anything near it is a typo, not a plan.
MAX_POOL_NODES = 1000
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Documentation domains (RFC 2606): an address there is a placeholder that notifies nobody.
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
PUBSUB_TOPIC_RE = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][\w.~+%-]{2,254}$"
)
CHANNEL_RE = re.compile(r"^projects/[a-z0-9-]+/notificationChannels/[0-9]+$")
# Labels the program sets on every billable resource; policies and cost reports read them, so
# no user-given label may carry these keys (infra/README.md).
COST_LABEL_KEYS = ("team", "cost-center", "environment", "project")
# Namespaces Kubernetes and GKE own; serving in one of them mixes our objects with the system's.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM_NAMESPACE_PREFIXES = ("kube-", "gke-", "gmp-")
# GKE cluster names: at most 40 characters (the cluster name is the stack prefix).
CLUSTER_NAME_MAX = 40
# Artifact Registry repository ids: at most 63 characters (`<prefix>-<repository_id>`).
REPOSITORY_ID_MAX = 63
# Compute Engine keeps four addresses of every subnet's primary range (network, gateway,
# second-to-last, broadcast); a primary range is at least a /29 (VPC "Subnets", IPv4 ranges).
SUBNET_RESERVED_ADDRESSES = 4
SUBNET_MIN_PREFIX = 29
# GKE Standard gives each node a /24 of the Pod range at the default 110 Pods per node
# (GKE "Configure maximum Pods per node", CIDR ranges for Standard clusters).
POD_RANGE_PER_NODE_PREFIX = 24
# The proxy-only subnet of Envoy-based load balancers is a /26 or larger (/23 recommended).
PROXY_MIN_PREFIX = 26
# Ranges Compute Engine refuses for subnets (VPC "Subnets", prohibited IPv4 ranges).
THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# Non-RFC 1918 ranges GKE supports for nodes, Pods and Services: shared address space and
# class E (GKE "IP address management": non-RFC 1918 ranges).
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# Days the request logs (prompts and answers: personal data) stay in BigQuery when the stack
# does not say (the shortest of the committed stacks'; each of them says its own);
# policies/config/<stack>.json caps them (policy request-log-retention).
DEFAULT_LOG_RETENTION_DAYS = 7
# Ten years: anything longer is a typo (days given in hours, ms...), not a retention window.
MAX_LOG_RETENTION_DAYS = 3650


# Capacity a GPU pool can draw on (GKE "About GPU obtainability"): a specific reservation,
# on-demand VMs, Spot VMs, or Dynamic Workload Scheduler flex-start VMs.
CapacityOption = Literal["reservation", "on-demand", "spot", "flex-start"]
CAPACITY_SUFFIX = {"reservation": "res", "on-demand": "od", "spot": "spot", "flex-start": "flex"}
RESERVATION_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


# GPU nodes beyond serving.max_replicas: one for a rollout's surge Pod or the warm canary.
ROLLOUT_SPARE_NODES = 1


class ConfigError(ValueError):
    """The stack configuration cannot be used; the message lists every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GcpSettings(_Strict):
    project_id: str
    region: str

    @field_validator("project_id")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not PROJECT_ID_RE.match(value) or "google" in value:
            raise ValueError(
                f"project_id={value!r}: 6-30 lower-case letters, digits and hyphens, starting with"
                " a letter, not ending with a hyphen, without 'google'"
            )
        return value


class LabelSettings(_Strict):
    team: str
    cost_center: str

    @field_validator("team", "cost_center")
    @classmethod
    def _label_value(cls, value: str) -> str:
        if not value or not LABEL_RE.match(value):
            raise ValueError(f"{value!r}: a GCP label value is 1-63 of [a-z0-9_-]")
        return value


class NetworkSettings(_Strict):
    subnet_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.10.0.0/20")
    pods_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.16.0.0/14")
    services_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.20.0.0/20")
    master_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("172.16.0.0/28")
    # Proxy-only subnet for the internal Application Load Balancer behind the serving Gateway.
    proxy_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.30.0.0/23")

    @model_validator(mode="after")
    def _ranges(self) -> NetworkSettings:
        ranges = {
            "subnet_cidr": self.subnet_cidr,
            "pods_cidr": self.pods_cidr,
            "services_cidr": self.services_cidr,
            "master_cidr": self.master_cidr,
            "proxy_cidr": self.proxy_cidr,
        }
        problems = [
            problem for name, net in ranges.items() if (problem := _range_problem(name, net))
        ]
        if self.subnet_cidr.prefixlen > SUBNET_MIN_PREFIX:
            problems.append(
                f"network.subnet_cidr={str(self.subnet_cidr)!r}: a subnet's primary range is at"
                f" least a /{SUBNET_MIN_PREFIX}"
            )
        if self.proxy_cidr.prefixlen > PROXY_MIN_PREFIX:
            problems.append(
                f"network.proxy_cidr={str(self.proxy_cidr)!r}: a proxy-only subnet is at least a"
                f" /{PROXY_MIN_PREFIX} (/23 recommended)"
            )
        if self.master_cidr.prefixlen != 28:
            problems.append(
                f"network.master_cidr={str(self.master_cidr)!r}: GKE needs a /28 for the"
                " control plane"
            )
        names = list(ranges)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if ranges[a].overlaps(ranges[b]):
                    problems.append(
                        f"network.{b}={str(ranges[b])!r}: overlaps network.{a}={str(ranges[a])!r};"
                        " node, pod, service and control-plane ranges must be disjoint"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _range_problem(name: str, net: ipaddress.IPv4Network) -> str | None:
    """Why Compute Engine would refuse `net` as a subnet range, or why it would harm; None: fine."""
    where = f"network.{name}={str(net)!r}"
    special = [
        kind
        for kind, hit in (
            ("loopback", net.is_loopback),
            ("link-local", net.is_link_local),
            ("multicast", net.is_multicast),
            ("'this network' (0.0.0.0/8)", net.overlaps(THIS_NETWORK)),
            ("the limited broadcast address", LIMITED_BROADCAST in net),
        )
        if hit
    ]
    if special:
        return f"{where}: Compute Engine refuses {' and '.join(special)} ranges for subnets"
    if not (net.is_private or net.subnet_of(SHARED_ADDRESS_SPACE)):
        return (
            f"{where}: a public range would hide those internet addresses from the cluster; use"
            " RFC 1918 (10/8, 172.16/12, 192.168/16), 100.64.0.0/10 or class E (240.0.0.0/4)"
        )
    return None


class AuthorizedNetwork(_Strict):
    name: str
    cidr: ipaddress.IPv4Network

    @field_validator("cidr", mode="before")
    @classmethod
    def _world_open(cls, value: Any) -> Any:
        try:
            net = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            return value  # the field type reports it
        if net.prefixlen == 0:  # 0.0.0.0/0 or ::/0
            raise ValueError(
                f"={str(value)!r}: the whole internet; clients without fixed ranges (CI) use the"
                " DNS endpoint with IAM, list only fixed ranges here"
            )
        return value


def gpu_machine_series() -> set[str]:
    """Machine series that carry GPUs (`g2`, `a2`, `a3`, ...), from the GPU catalog."""
    catalog = load_catalog()
    return {
        machine.split("-")[0]
        for entry in catalog.gpus.values()
        for machine in (entry.family, *entry.machine_types.values())
    }


def is_gpu_machine(machine_type: str) -> bool:
    return machine_type.split("-")[0] in gpu_machine_series()


class SystemPool(_Strict):
    machine_type: str = "e2-standard-4"
    min_nodes: int = Field(default=1, ge=1)
    max_nodes: int = Field(default=3, ge=1, le=MAX_POOL_NODES)
    disk_size_gb: int = Field(default=50, ge=30, le=1000)

    @field_validator("machine_type")
    @classmethod
    def _not_gpu(cls, value: str) -> str:
        if is_gpu_machine(value):
            raise ValueError(
                f"cluster.system_pool.machine_type={value!r}: a GPU machine series"
                f" ({value.split('-')[0]}, catalog/gpu_availability.yaml); the system pool runs"
                " CPU workloads, GPU capacity belongs in gpu_pools"
            )
        return value

    @model_validator(mode="after")
    def _min_max(self) -> SystemPool:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"cluster.system_pool.min_nodes={self.min_nodes}: must not exceed "
                f"max_nodes={self.max_nodes}"
            )
        return self


class ClusterSettings(_Strict):
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    deletion_protection: bool = True
    # The control plane is reached through its DNS endpoint (IAM-authenticated, from anywhere:
    # CI runners included) and a private IP endpoint (the VPC). Listing networks here also opens
    # the public IP endpoint, to these ranges only; never 0.0.0.0/0.
    master_authorized_networks: list[AuthorizedNetwork] = Field(default_factory=list)
    system_pool: SystemPool = Field(default_factory=SystemPool)


class GpuPool(_Strict):
    name: str
    gpu_type: str
    gpus_per_node: int = Field(ge=1)
    # Optional: defaults to the catalog's machine type for gpu_type x gpus_per_node.
    machine_type: str | None = None
    # Where the nodes come from, most preferred first: one node pool per option and, for two or
    # more, a GKE ComputeClass that falls back in this order (infra/README.md "Capacity chain").
    # `spot: true` / `spot: false` in the stack file is shorthand for [spot] / [on-demand].
    capacity: list[CapacityOption] = Field(min_length=1)
    # The specific Compute Engine reservation the `reservation` option consumes (same project).
    reservation: str | None = None
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1, le=MAX_POOL_NODES)
    # Optional subset of the catalog's zones for gpu_type in the region; default: all of them.
    zones: list[str] = Field(default_factory=list)
    disk_size_gb: int = Field(default=200, ge=100, le=4000)
    disk_type: Literal["pd-balanced", "pd-ssd"] = "pd-balanced"
    driver_version: Literal["DEFAULT", "LATEST"] = "LATEST"
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _spot_shorthand(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        if "spot" not in values:
            if "capacity" not in values:
                raise ValueError(
                    "=(no spot, no capacity): say where the nodes come from: spot: true|false,"
                    " or capacity: [reservation, on-demand, spot, flex-start] (any of them, most"
                    " preferred first)"
                )
            return values
        spot = values["spot"]
        if "capacity" in values:
            raise ValueError(
                f".spot={spot!r}: give spot or capacity, not both (capacity: [spot] is spot: true)"
            )
        if not isinstance(spot, bool):
            raise ValueError(f".spot={spot!r}: true or false")
        rest = {key: value for key, value in values.items() if key != "spot"}
        return {**rest, "capacity": ["spot"] if spot else ["on-demand"]}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value) or len(value) > 20:
            raise ValueError(f"{value!r}: 1-20 lower-case letters, digits and hyphens")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not LABEL_KEY_RE.match(key) or not LABEL_RE.match(label):
                raise ValueError(f"{key!r}: {label!r}: GCP label keys/values are [a-z0-9_-]")
        reserved = {key: label for key, label in value.items() if key in COST_LABEL_KEYS}
        if reserved:
            raise ValueError(
                f"={reserved!r}: {sorted(reserved)} are cost labels the program sets from the"
                " stack (labels.team, labels.cost_center, environment, the project); remove them"
            )
        return value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        repeated = sorted({zone for zone in value if value.count(zone) > 1})
        if repeated:
            raise ValueError(f"={value!r}: {repeated} listed more than once")
        return value

    @model_validator(mode="after")
    def _min_max(self) -> GpuPool:
        problems = []
        if self.min_nodes > self.max_nodes:
            problems.append(
                f"min_nodes={self.min_nodes}: must not exceed max_nodes={self.max_nodes}"
            )
        repeated = sorted({c for c in self.capacity if self.capacity.count(c) > 1})
        if repeated:
            problems.append(f"capacity={self.capacity!r}: {repeated} listed more than once")
        if ("reservation" in self.capacity) != (self.reservation is not None):
            problems.append(
                f"reservation={self.reservation!r}: name the Compute Engine reservation if and"
                f" only if capacity lists `reservation` (capacity={self.capacity!r})"
            )
        if self.reservation is not None and not RESERVATION_RE.match(self.reservation):
            problems.append(
                f"reservation={self.reservation!r}: a Compute Engine resource name (1-63"
                " lower-case letters, digits and hyphens, starting with a letter)"
            )
        # Flex-start nodes are obtained on demand by the autoscaler and never kept idle.
        if "flex-start" in self.capacity and self.min_nodes != 0:
            problems.append(
                f"min_nodes={self.min_nodes}: a pool with flex-start capacity scales from 0"
                " (GKE provisions flex-start nodes only for pending Pods); set min_nodes: 0"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def resolved_machine_type(self) -> str:
        return self.machine_type or load_catalog().machine_type(self.gpu_type, self.gpus_per_node)

    @property
    def compute_class(self) -> str | None:
        """The ComputeClass of a capacity chain (two or more options); None for one option."""
        return f"gpu-{self.name}" if len(self.capacity) > 1 else None

    def node_pool_name(self, option: CapacityOption) -> str:
        """`gpu-<name>` for a single option (the name before chains existed: no replacement),
        `gpu-<name>-<option>` in a chain."""
        if self.compute_class is None:
            return f"gpu-{self.name}"
        return f"gpu-{self.name}-{CAPACITY_SUFFIX[option]}"


class StorageSettings(_Strict):
    # 'enforced' keeps every bucket private whatever IAM says; the policy pack refuses 'inherited'.
    public_access_prevention: Literal["enforced", "inherited"] = "enforced"
    model_bucket_versioning: bool = True
    # Noncurrent model versions kept before lifecycle deletes older ones.
    model_versions_kept: int = Field(default=5, ge=1, le=100)
    pipeline_root_ttl_days: int = Field(default=30, ge=1, le=3650)
    force_destroy: bool = False


class ArtifactRegistrySettings(_Strict):
    repository_id: str = "images"
    immutable_tags: bool = True

    @field_validator("repository_id")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value):
            raise ValueError(f"{value!r}: lower-case letters, digits and hyphens")
        return value


class VertexSettings(_Strict):
    enabled: bool = True


class IdentitySettings(_Strict):
    # Extra project roles per workload identity, on top of the least roles the program grants.
    extra_roles: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("extra_roles")
    @classmethod
    def _roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for who, roles in value.items():
            if who not in IDENTITIES:
                raise ValueError(f"{who!r}: identities are {list(IDENTITIES)}")
            for role in roles:
                if not ROLE_RE.match(role):
                    raise ValueError(
                        f"{who}: {role!r}: a role looks like 'roles/storage.objectViewer'"
                    )
        return value


class GithubSettings(_Strict):
    # owner/name: only this repository's workflows may exchange tokens (WIF attribute condition).
    repository: str

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not GITHUB_REPO_RE.match(value):
            raise ValueError(f"{value!r}: expected 'owner/name'")
        return value


class AlertSettings(_Strict):
    """Who the serving alert policies notify (Cloud Monitoring notification channels).

    `emails` and `pubsub_topic` become channels the program creates; `channels` are existing
    channels (Slack, PagerDuty, ...) by resource name. Every alert policy notifies all of them.
    """

    emails: list[str] = Field(default_factory=list)
    # An existing topic; grant roles/pubsub.publisher on it to
    # service-<project number>@gcp-sa-monitoring-notification.iam.gserviceaccount.com.
    pubsub_topic: str | None = None
    channels: list[str] = Field(default_factory=list)
    # prod must notify someone; `true` accepts, visibly in the stack file, that nobody is told.
    allow_unrouted: bool = False

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL_RE.match(address):
                raise ValueError(f"{address!r}: not an email address")
            if address.rsplit("@", 1)[1].lower() in PLACEHOLDER_DOMAINS:
                raise ValueError(f"{address!r}: a placeholder domain notifies nobody")
        if len(set(value)) != len(value):
            raise ValueError(f"{value!r}: addresses must be unique")
        return value

    @field_validator("pubsub_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not PUBSUB_TOPIC_RE.match(value):
            raise ValueError(f"{value!r}: expected 'projects/<project id>/topics/<topic>'")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for name in value:
            if not CHANNEL_RE.match(name):
                raise ValueError(
                    f"{name!r}: expected 'projects/<project>/notificationChannels/<id>'"
                )
        return value

    def routed(self) -> bool:
        return bool(self.emails or self.pubsub_topic or self.channels)

    @model_validator(mode="after")
    def _unrouted(self) -> AlertSettings:
        if self.allow_unrouted and self.routed():
            raise ValueError(
                "alerts.allow_unrouted=True: channels are configured, remove allow_unrouted"
            )
        return self


class ServingSettings(_Strict):
    namespace: str = "llm"
    # The Kubernetes service account bound to the serving identity through Workload Identity.
    service_account: str = "vllm"
    canary_weight: int = Field(default=0, ge=0, le=100)
    # Run the canary at weight 0 (started and Ready, no user traffic): the release's warm-up and
    # smoke eval before its first step (release/README.md). Off: weight 0 parks it (no pods).
    canary_warm: bool = False
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    # Registry references each track serves; `make canary BACKEND=gke` sets them per release.
    stable_model: str = Field(default="champion", min_length=1)
    canary_model: str = Field(default="candidate", min_length=1)
    # Mount the model-hub token (Secret Manager, latest version) into the vLLM pods. Off by
    # default: weights come from the model bucket, and a mount of a secret without a version
    # keeps every pod in ContainerCreating. Add the version first, then set it (infra/README.md).
    mount_hub_token: bool = False

    @field_validator("stable_model", "canary_model", mode="before")
    @classmethod
    def _version_number(cls, value: Any) -> Any:
        # `pulumi config set --path serving.canary_model 7` writes the YAML integer 7 (the CLI
        # treats integers under --path as numbers unless given --type string, as its docs say:
        # pulumi.com/docs/iac/cli/commands/pulumi_config_set): a version number is a ref.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value):
            raise ValueError(f"serving.namespace={value!r}: a DNS label (lower-case, hyphens)")
        if value in SYSTEM_NAMESPACES or value.startswith(SYSTEM_NAMESPACE_PREFIXES):
            raise ValueError(
                f"serving.namespace={value!r}: a namespace Kubernetes or GKE owns"
                f" ({', '.join(SYSTEM_NAMESPACES)}, {', '.join(SYSTEM_NAMESPACE_PREFIXES)}*)"
            )
        return value

    @field_validator("service_account")
    @classmethod
    def _service_account(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value):
            raise ValueError(
                f"serving.service_account={value!r}: a DNS label (lower-case, hyphens)"
            )
        return value

    @model_validator(mode="after")
    def _min_max(self) -> ServingSettings:
        problems = []
        if self.min_replicas > self.max_replicas:
            problems.append(
                f"min_replicas={self.min_replicas}: must not exceed "
                f"max_replicas={self.max_replicas}"
            )
        # A parked track has no pods (infra/serving/args.py `parked`): the stable track parks at
        # min_replicas 0, the canary at weight 0. Parking both (dev) parks the service; parking
        # only the stable one while the canary takes part would send requests to no pod.
        if self.min_replicas == 0 and 0 < self.canary_weight < 100:
            problems.append(
                f"serving.canary_weight={self.canary_weight}: the stable track is parked"
                f" (serving.min_replicas=0) but would get {100 - self.canary_weight}% of"
                " requests; set min_replicas >= 1, or canary_weight 0 (all parked) or 100"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MonitoringSettings(_Strict):
    """The request-log export the monitor reads (infra/monitoring_logs.py)."""

    # None: DEFAULT_LOG_RETENTION_DAYS.
    log_retention_days: int | None = None

    @field_validator("log_retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if value is None:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole or not 1 <= value <= MAX_LOG_RETENTION_DAYS:
            raise ValueError(
                f"monitoring.log_retention_days={value!r}: a whole number of days, 1 to"
                f" {MAX_LOG_RETENTION_DAYS}; request logs hold prompts (personal data) and must"
                f" expire. Remove the key for the default ({DEFAULT_LOG_RETENTION_DAYS} days)"
            )
        return value


class StackConfig(_Strict):
    project: str  # the Pulumi project name (= the project slug)
    stack: str
    environment: str
    gcp: GcpSettings
    labels: LabelSettings
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    gpu_pools: list[GpuPool] = Field(min_length=1)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    artifact_registry: ArtifactRegistrySettings = Field(default_factory=ArtifactRegistrySettings)
    vertex: VertexSettings = Field(default_factory=VertexSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    github: GithubSettings
    serving: ServingSettings = Field(default_factory=ServingSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not ENVIRONMENT_RE.match(value):
            raise ValueError(
                f"environment={value!r}: 2 to 10 lowercase letters and digits, starting with a"
                " letter (dev, staging, prod, qa...); it is part of every resource name and label"
            )
        return value

    @model_validator(mode="after")
    def _against_catalog(self) -> StackConfig:
        problems = _catalog_problems(self) + _capacity_problems(self) + _name_problems(self)
        alerts = self.alerts
        if self.environment == "prod" and not (alerts.routed() or alerts.allow_unrouted):
            problems.append(
                "alerts={}: prod alert policies must notify someone; set alerts.emails, "
                "alerts.pubsub_topic or alerts.channels (or alerts.allow_unrouted: true to accept, "
                "in the stack file, alerts that notify nobody)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def prefix(self) -> str:
        """Prefix of every resource name: `<project>-<environment>`."""
        return f"{self.project}-{self.environment}"

    @property
    def log_retention_days(self) -> int:
        """Days request logs are kept: `monitoring.log_retention_days` or the default."""
        days = self.monitoring.log_retention_days
        return days if days is not None else DEFAULT_LOG_RETENTION_DAYS

    def cost_labels(self) -> dict[str, str]:
        return {
            "team": self.labels.team,
            "cost-center": self.labels.cost_center,
            "environment": self.environment,
            "project": self.project,
        }

    def pool_zones(self, pool: GpuPool) -> list[str]:
        return pool.zones or load_catalog().zones(pool.gpu_type, self.gcp.region)


def _catalog_problems(cfg: StackConfig) -> list[str]:
    """Rules that need the GPU catalog: region, GPU x region, zones, machine shape, Spot-only."""
    catalog = load_catalog()
    region = cfg.gcp.region
    problems = []
    if region not in catalog.regions:
        problems.append(
            f"gcp.region={region!r}: not in catalog/gpu_availability.yaml (as of "
            f"{catalog.as_of}); regions: {catalog.regions}"
        )
    names = [pool.name for pool in cfg.gpu_pools]
    for i, pool in enumerate(cfg.gpu_pools):
        where = f"gpu_pools[{i}]"
        if names.count(pool.name) > 1:
            problems.append(f"{where}.name={pool.name!r}: pool names must be unique")
        entry = catalog.gpus.get(pool.gpu_type)
        if entry is None:
            problems.append(
                f"{where}.gpu_type={pool.gpu_type!r}: choose one of {sorted(catalog.gpus)}"
            )
            continue
        offered = entry.zones.get(region, [])
        if not offered:
            problems.append(
                f"{where}.gpu_type={pool.gpu_type!r}: not offered in region {region!r} (catalog as "
                f"of {catalog.as_of}); regions with it: {sorted(entry.zones)}"
            )
        for zone in pool.zones:
            if zone not in offered:
                problems.append(
                    f"{where}.zones: {zone!r} has no {pool.gpu_type} in the catalog; zones in "
                    f"{region} with it: {offered}"
                )
        if pool.gpus_per_node not in entry.machine_types:
            problems.append(
                f"{where}.gpus_per_node={pool.gpus_per_node}: {pool.gpu_type} nodes come with "
                f"{sorted(entry.machine_types)} GPUs"
            )
            continue
        expected = entry.machine_types[pool.gpus_per_node]
        if pool.machine_type is not None and pool.machine_type != expected:
            problems.append(
                f"{where}.machine_type={pool.machine_type!r}: {pool.gpu_type} x "
                f"{pool.gpus_per_node} runs on {expected} ({entry.family} family); remove the field"
                " to use it"
            )
        machine = pool.machine_type or expected
        unsold = [c for c in pool.capacity if c in ("on-demand", "reservation")]
        if unsold and machine in entry.spot_only_machine_types:
            option = "spot=false" if pool.capacity == ["on-demand"] else f"capacity={unsold!r}"
            problems.append(
                f"{where}.{option}: {machine} is sold only as Spot or flex-start capacity; use"
                " spot: true, capacity: [spot, flex-start], or gpus_per_node: 8"
            )
    # One node per replica from whichever option has capacity (a chain adds no replicas), plus
    # one spare: a rollout surges one new Pod before it stops an old one (maxSurge 1,
    # maxUnavailable 0) and the release warms the canary beside a full stable track; on a GPU
    # node each is a whole node. Without it both wait at max scale.
    total_nodes = sum(pool.max_nodes for pool in cfg.gpu_pools)
    replicas = cfg.serving.max_replicas
    if replicas and replicas + ROLLOUT_SPARE_NODES > total_nodes:
        problems.append(
            f"serving.max_replicas={replicas}: each replica needs a GPU node and a rollout or"
            f" the warm canary one more ({replicas + ROLLOUT_SPARE_NODES}), but the GPU pools"
            f" allow at most {total_nodes}; lower serving.max_replicas to"
            f" {max(total_nodes - ROLLOUT_SPARE_NODES, 0)} or raise max_nodes"
        )
    return problems


def _capacity_problems(cfg: StackConfig) -> list[str]:
    """Node subnet and Pod range hold every node the pools may reach, plus one surge node each."""
    system = cfg.cluster.system_pool
    # Every option of a capacity chain is a node pool that may reach max_nodes.
    pools = [system.max_nodes]
    pools += [pool.max_nodes for pool in cfg.gpu_pools for _ in pool.capacity]
    nodes = sum(pools) + len(pools)  # upgrade_settings max_surge 1 per pool
    net = cfg.network
    problems = []
    node_ips = net.subnet_cidr.num_addresses - SUBNET_RESERVED_ADDRESSES
    if node_ips < nodes:
        problems.append(
            f"network.subnet_cidr={str(net.subnet_cidr)!r}: {node_ips} node addresses, but the"
            f" pools may reach {nodes} nodes (max_nodes plus one upgrade surge node per pool)"
        )
    per_node = POD_RANGE_PER_NODE_PREFIX
    prefix = net.pods_cidr.prefixlen
    pod_nodes = 2 ** (per_node - prefix) if prefix <= per_node else 0
    if pod_nodes < nodes:
        problems.append(
            f"network.pods_cidr={str(net.pods_cidr)!r}: room for {pod_nodes} nodes (a"
            f" /{POD_RANGE_PER_NODE_PREFIX} each at 110 Pods per node), but the pools may reach"
            f" {nodes}"
        )
    return problems


def _name_problems(cfg: StackConfig) -> list[str]:
    """Names built from the prefix that GCP would refuse as too long."""
    problems = []
    if len(cfg.prefix) > CLUSTER_NAME_MAX:
        problems.append(
            f"environment={cfg.environment!r}: the cluster name {cfg.prefix!r} has"
            f" {len(cfg.prefix)} characters, GKE allows {CLUSTER_NAME_MAX}; shorten the"
            " project name (infra/Pulumi.yaml)"
        )
    repository = f"{cfg.prefix}-{cfg.artifact_registry.repository_id}"
    if len(repository) > REPOSITORY_ID_MAX:
        problems.append(
            f"artifact_registry.repository_id={cfg.artifact_registry.repository_id!r}: the"
            f" repository id {repository!r} has {len(repository)} characters, Artifact Registry"
            f" allows {REPOSITORY_ID_MAX}"
        )
    return problems


def project_name(project_file: Path = PROJECT_FILE) -> str:
    return str(yaml.safe_load(project_file.read_text())["name"])


def stack_file(stack: str) -> Path:
    return INFRA_DIR / f"Pulumi.{stack}.yaml"


def format_errors(error: ValidationError) -> list[str]:
    """`field=value: rule` lines from a pydantic error."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "value_error":
            # Our own validators name the field and the value, or start with `=value` (or
            # `.field=value`) when only pydantic knows where the object is (a list item).
            if message.startswith(("=", ".")):
                lines.append(f"{loc}{message}")
            else:
                lines.append(
                    f"{loc}: {message}" if loc and not message.startswith(loc) else message
                )
        else:
            lines.append(f"{loc}={item.get('input')!r}: {message}")
    return lines


def parse_stack_config(values: dict[str, Any], project: str, stack: str) -> StackConfig:
    """Validate the project's config keys (without namespace) for one stack."""
    environment = values.get("environment")
    problems = []
    # Labels, policy exemptions and names follow `environment`, so a stack says which it is by
    # its name: `prod` or `prod-<anything>` (a second prod in its own project), never `staging`
    # saying prod (a copied file whose edit was forgotten).
    if isinstance(environment, str) and not (
        stack == environment or stack.startswith(f"{environment}-")
    ):
        problems.append(
            f"environment={environment!r}: the file of stack {stack!r} must say"
            f" environment: {stack.split('-')[0]}, or the stack be named {environment!r} or"
            f" '{environment}-<name>'"
        )
    try:
        cfg = StackConfig.model_validate(
            {**values, "project": project, "stack": stack, "environment": environment}
        )
    except ValidationError as error:
        problems += format_errors(error)
    if problems:
        listed = "\n  - ".join(problems)
        raise ConfigError(f"stack {stack!r} config is invalid:\n  - {listed}") from None
    return cfg


def load_stack_config(stack: str, path: Path | None = None) -> StackConfig:
    """Read and validate infra/Pulumi.<stack>.yaml (or `path`), keys in the project's namespace."""
    path = path or stack_file(stack)
    project = project_name()
    if not path.exists():
        stacks = sorted(p.name for p in INFRA_DIR.glob("Pulumi.*.yaml"))
        raise ConfigError(f"stack config {path} not found (stacks: {stacks})")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"stack config {path} is not valid YAML: {error}") from None
    raw = document.get("config") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError(f"stack config {path} has no 'config:' mapping")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = str(key).partition(":")
        if namespace == project and name:
            values[name] = value
        elif not name:
            raise ConfigError(f"{path}: config key {key!r} has no namespace; use '{project}:{key}'")
    return parse_stack_config(values, project, stack)
