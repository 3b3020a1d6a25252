"""What a plan will run, reduced to what costs money: GKE clusters and their node pools.

Reads two shapes with the same resource inputs (camelCase, as Pulumi records them):
- the offline plan (`make plan` -> build/plan/<stack>.json): {"resources": [{type, name,
  parent, inputs}, ...]};
- `pulumi preview --json`: {"steps": [{"op", "urn", "newState": {"type", "urn", "inputs",
  "parent"}}, ...]} (deleted resources carry only `oldState` and cost nothing afterwards).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.evidence import sha256_file
from policies.pricing import node_capacity

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
# Pulumi's marker for a value not known until apply (e.g. an output of another resource).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
GONE_OPS = {"delete", "delete-replaced", "discard", "read-discard", "remove-pending-replace"}
_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
# GKE's default for a regional cluster without explicit node locations: three zones.
DEFAULT_REGIONAL_ZONES = 3
# GKE's default boot disk when a node pool sets none: 100 GB pd-balanced.
DEFAULT_DISK_GB, DEFAULT_DISK_TYPE = 100, "pd-balanced"


class PlanError(ValueError):
    """The plan cannot be priced; the message says why and what to do."""


@dataclass(frozen=True)
class Cluster:
    name: str
    location: str
    region: str


@dataclass(frozen=True)
class NodePool:
    name: str
    machine_type: str
    region: str
    zones: int
    capacity: str  # spot, flex-start, reservation or on-demand (policies.pricing.node_capacity)
    min_nodes: int
    max_nodes: int
    gpu_type: str | None
    gpus_per_node: int
    disk_gb: int
    disk_type: str

    @property
    def spot(self) -> bool:
        return self.capacity == "spot"

    @property
    def kind(self) -> str:
        return "gpu" if self.gpu_type else "system"


@dataclass(frozen=True)
class Plan:
    path: str
    sha256: str
    format: str
    clusters: list[Cluster]
    pools: list[NodePool]
    # Every resource as {type, name, parent, inputs}: the services besides node pools
    # (cost/infra.py) are priced from these.
    resources: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "clusters": [asdict(c) for c in self.clusters],
            "pools": [{**asdict(p), "kind": p.kind} for p in self.pools],
        }


def region_of(location: str, where: str) -> str:
    if _REGION.match(location):
        return location
    zone = _ZONE.match(location)
    if zone:
        return zone.group(1)
    raise PlanError(f"{where}: location {location!r} is neither a GCP region nor a zone")


def _known(value: Any, where: str) -> Any:
    if value == UNKNOWN:
        raise PlanError(f"{where} is not known until apply in this preview; cannot price it")
    return value


def _resources(document: Any, path: Path) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(document, dict) and isinstance(document.get("resources"), list):
        return "offline-plan", document["resources"]
    if isinstance(document, dict) and isinstance(document.get("steps"), list):
        resources = []
        for step in document["steps"]:
            state = step.get("newState") or step.get("resource")
            if step.get("op") in GONE_OPS or not isinstance(state, dict):
                continue
            urn = state.get("urn") or step.get("urn", "")
            resources.append(
                {
                    "type": state.get("type"),
                    "name": urn.rsplit("::", 1)[-1],
                    "parent": state.get("parent"),
                    "inputs": state.get("inputs") or {},
                }
            )
        return "pulumi-preview", resources
    raise PlanError(
        f"{path} is JSON but neither an offline plan (a 'resources' list, from `make plan`) nor "
        "`pulumi preview --json` output (a 'steps' list)"
    )


def _pool(resource: dict[str, Any], clusters: list[Cluster]) -> NodePool:
    name = resource.get("name") or "?"
    where = f"node pool {name!r}"
    inputs = resource.get("inputs") or {}
    config = inputs.get("nodeConfig") or {}
    machine = _known(config.get("machineType"), f"{where} nodeConfig.machineType")
    if not machine:
        # GKE's default machine type would apply: price nothing silently.
        raise PlanError(f"{where} has no nodeConfig.machineType; set it explicitly to price it")
    locations = _known(inputs.get("nodeLocations") or [], f"{where} nodeLocations")
    cluster = _cluster_of(inputs, clusters, where)
    location = inputs.get("location") or (cluster.location if cluster else None)
    if location in (None, UNKNOWN):
        if not locations:
            raise PlanError(f"{where}: no location, nodeLocations or cluster to place it in")
        location = locations[0]
    region = region_of(location, where)
    zones = len(locations) or (DEFAULT_REGIONAL_ZONES if _REGION.match(location) else 1)
    autoscaling = inputs.get("autoscaling")
    if autoscaling:
        if autoscaling.get("totalMaxNodeCount") is not None:
            low = int(autoscaling.get("totalMinNodeCount") or 0)
            high = int(autoscaling["totalMaxNodeCount"])
        else:  # per-zone bounds
            low = int(autoscaling.get("minNodeCount") or 0) * zones
            high = int(autoscaling.get("maxNodeCount") or 0) * zones
    else:
        count = inputs.get("nodeCount", inputs.get("initialNodeCount", 1))
        low = high = int(_known(count, f"{where} nodeCount")) * zones
    if high < low:
        raise PlanError(f"{where}: max nodes {high} is below min nodes {low}")
    accelerators = config.get("guestAccelerators") or []
    gpu = accelerators[0] if accelerators else {}
    return NodePool(
        name=name,
        machine_type=machine,
        region=region,
        zones=zones,
        capacity=node_capacity(config),
        min_nodes=low,
        max_nodes=high,
        gpu_type=gpu.get("type"),
        gpus_per_node=int(gpu.get("count") or 0),
        disk_gb=int(_known(config.get("diskSizeGb"), f"{where} diskSizeGb") or DEFAULT_DISK_GB),
        disk_type=_known(config.get("diskType"), f"{where} diskType") or DEFAULT_DISK_TYPE,
    )


def _cluster_of(inputs: dict[str, Any], clusters: list[Cluster], where: str) -> Cluster | None:
    wanted = inputs.get("cluster")
    for cluster in clusters:
        if wanted and wanted != UNKNOWN and wanted.rsplit("/", 1)[-1] == cluster.name:
            return cluster
    return clusters[0] if len(clusters) == 1 else None


def load_plan(path: Path) -> Plan:
    if not path.is_file():
        raise PlanError(f"plan {path} not found; run `make plan STACK=...` first")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PlanError(
            f"plan {path} is not JSON ({error}); pass the file written by "
            "`make plan` or by `pulumi preview --json`"
        ) from error
    shape, resources = _resources(document, path)
    clusters = []
    for resource in resources:
        if resource.get("type") == CLUSTER:
            inputs = resource.get("inputs") or {}
            name = resource.get("name") or "?"
            location = _known(inputs.get("location"), f"cluster {name!r} location")
            if not location:
                raise PlanError(f"cluster {name!r} has no location")
            clusters.append(
                Cluster(
                    name=inputs.get("name") or name,
                    location=location,
                    region=region_of(location, f"cluster {name!r}"),
                )
            )
    pools = [_pool(r, clusters) for r in resources if r.get("type") == NODE_POOL]
    if not clusters and not pools:
        raise PlanError(f"plan {path} declares no GKE cluster or node pool: nothing to price")
    return Plan(
        path=str(path),
        sha256=sha256_file(path),
        format=shape,
        clusters=clusters,
        pools=pools,
        resources=resources,
    )
