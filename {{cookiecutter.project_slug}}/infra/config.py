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
ENVIRONMENTS = ("dev", "staging", "prod")
IDENTITIES = ("nodes", "serving", "pipelines", "ci")

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
            f"network.{name}={str(net)!r}: must be a private (RFC 1918) range"
            for name, net in ranges.items()
            if not net.is_private
        ]
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


class AuthorizedNetwork(_Strict):
    name: str
    cidr: ipaddress.IPv4Network


class SystemPool(_Strict):
    machine_type: str = "e2-standard-4"
    min_nodes: int = Field(default=1, ge=1)
    max_nodes: int = Field(default=3, ge=1, le=MAX_POOL_NODES)
    disk_size_gb: int = Field(default=50, ge=30, le=1000)

    @model_validator(mode="after")
    def _min_max(self) -> SystemPool:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"cluster.system_pool.min_nodes={self.min_nodes}: must not exceed "
                f"max_nodes={self.max_nodes}"
            )
        return self


class ClusterSettings(_Strict):
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    deletion_protection: bool = True
    # Who may reach the public control-plane endpoint; empty = only Google-internal and the VPC.
    master_authorized_networks: list[AuthorizedNetwork] = Field(default_factory=list)
    system_pool: SystemPool = Field(default_factory=SystemPool)


class GpuPool(_Strict):
    name: str
    gpu_type: str
    gpus_per_node: int = Field(ge=1)
    # Optional: defaults to the catalog's machine type for gpu_type x gpus_per_node.
    machine_type: str | None = None
    spot: bool
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=1, le=MAX_POOL_NODES)
    # Optional subset of the catalog's zones for gpu_type in the region; default: all of them.
    zones: list[str] = Field(default_factory=list)
    disk_size_gb: int = Field(default=200, ge=100, le=4000)
    disk_type: Literal["pd-balanced", "pd-ssd"] = "pd-balanced"
    driver_version: Literal["DEFAULT", "LATEST"] = "LATEST"
    labels: dict[str, str] = Field(default_factory=dict)

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
        return value

    @model_validator(mode="after")
    def _min_max(self) -> GpuPool:
        if self.min_nodes > self.max_nodes:
            raise ValueError(
                f"min_nodes={self.min_nodes}: must not exceed max_nodes={self.max_nodes}"
            )
        return self

    def resolved_machine_type(self) -> str:
        return self.machine_type or load_catalog().machine_type(self.gpu_type, self.gpus_per_node)


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
        # parses --path values as YAML unless given --type string): a version number is a ref.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("namespace", "service_account")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value) or value.startswith("kube-"):
            raise ValueError(f"{value!r}: a DNS label (lower-case, hyphens), not kube-*")
        return value

    @model_validator(mode="after")
    def _min_max(self) -> ServingSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas={self.min_replicas}: must not exceed "
                f"max_replicas={self.max_replicas}"
            )
        return self


class StackConfig(_Strict):
    project: str  # the Pulumi project name (= the project slug)
    stack: str
    environment: Literal["dev", "staging", "prod"]
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

    @model_validator(mode="after")
    def _against_catalog(self) -> StackConfig:
        problems = _catalog_problems(self)
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
        if not pool.spot and machine in entry.spot_only_machine_types:
            problems.append(
                f"{where}.spot=false: {machine} is sold only as Spot capacity; set spot: true or "
                "gpus_per_node: 8"
            )
    total_nodes = sum(pool.max_nodes for pool in cfg.gpu_pools)
    if cfg.serving.max_replicas > total_nodes:
        problems.append(
            f"serving.max_replicas={cfg.serving.max_replicas}: each replica needs a GPU node, but "
            f"the GPU pools allow at most {total_nodes}"
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
            # Our own validators already name the field and the value.
            lines.append(f"{loc}: {message}" if loc and not message.startswith(loc) else message)
        else:
            lines.append(f"{loc}={item.get('input')!r}: {message}")
    return lines


def parse_stack_config(values: dict[str, Any], project: str, stack: str) -> StackConfig:
    """Validate the project's config keys (without namespace) for one stack."""
    environment = values.get("environment")
    try:
        return StackConfig.model_validate(
            {**values, "project": project, "stack": stack, "environment": environment}
        )
    except ValidationError as error:
        problems = "\n  - ".join(format_errors(error))
        raise ConfigError(f"stack {stack!r} config is invalid:\n  - {problems}") from None


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
