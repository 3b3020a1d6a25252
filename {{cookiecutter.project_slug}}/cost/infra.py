"""Monthly cost per resource, like Infracost: each priced resource of the plan with its cost
components (quantity x unit price), at the node pools' minimum and maximum node counts.

Fixed parts come from the plan; variable parts (data processed, samples, logs, stored GiB)
from `infra:` in cost/usage.yaml. Resources with no direct charge are counted, not priced.
"""

from __future__ import annotations

from typing import Any

from cost.plan import CLUSTER, NODE_POOL, Plan
from cost.prices import HOURS_PER_MONTH, Prices
from cost.usage import Infra

ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
BUCKET = "gcp:storage/bucket:Bucket"
REGISTRY = "gcp:artifactregistry/repository:Repository"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
DISK_ITEMS = {"pd-standard": "pd_standard", "pd-balanced": "pd_balanced", "pd-ssd": "pd_ssd"}
# Cloud NAT charges per VM up to this many, then a flat gateway rate.
NAT_VM_CAP = 32
# Managed Prometheus' default scrape interval when a PodMonitoring sets none.
DEFAULT_SCRAPE_S = 60
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


def component(name: str, quantity: tuple[float, float], unit: str, unit_usd: float) -> dict:
    """One cost line: quantity per month at (min, max) nodes x price per unit."""
    low, high = quantity
    return {
        "name": name,
        "unit": unit,
        "unit_usd": unit_usd,
        "quantity_min": low,
        "quantity_max": high,
        "monthly_min": low * unit_usd,
        "monthly_max": high * unit_usd,
    }


def resource(name: str, kind: str, parts: list[dict], note: str = "", **extra: Any) -> dict:
    return {
        "resource": name,
        "kind": kind,
        "components": parts,
        "monthly_min": sum(p["monthly_min"] for p in parts),
        "monthly_max": sum(p["monthly_max"] for p in parts),
        "note": note,
        **extra,
    }


def pool_resource(pool: dict, prices: Prices) -> dict:
    """A node pool: its machines and their boot disks (GKE gives every node one)."""
    hours = (pool["min_nodes"] * HOURS_PER_MONTH, pool["max_nodes"] * HOURS_PER_MONTH)
    disk_item = DISK_ITEMS.get(pool["disk_type"])
    if disk_item is None:
        raise ValueError(
            f"node pool {pool['name']!r}: boot disk type {pool['disk_type']!r} has no price; "
            f"priced types: {', '.join(DISK_ITEMS)}"
        )
    disk_gib = (pool["min_nodes"] * pool["disk_gb"], pool["max_nodes"] * pool["disk_gb"])
    capacity = pool["capacity"]
    machine = pool["machine_type"] + ("" if capacity == "on-demand" else f" ({capacity})")
    parts = [
        component(f"{machine} nodes", hours, "node-hour", pool["node_hourly"]),
        component(
            f"boot disks {pool['disk_gb']} GB {pool['disk_type']}",
            disk_gib,
            "GiB-month",
            prices.services[disk_item],
        ),
    ]
    commitment = None
    if not pool["spot"] and pool["month_1y_cud"] is not None:
        # Committed-use prices per node and month, as the machine table lists them.
        disks = parts[1]["monthly_max"]
        commitment = {
            term: pool[f"month_{term}_cud"] * pool["max_nodes"] + disks
            for term in ("1y", "3y")
            if pool[f"month_{term}_cud"] is not None
        }
    note = "Spot: no committed-use price" if pool["spot"] else ""
    if not pool["spot"] and commitment is None:
        note = "the machine table has no committed-use price for this shape"
    if capacity in ("flex-start", "reservation"):
        # The table has no flex-start discount; a reservation is billed used or not.
        note = f"{capacity} priced at on-demand (an upper bound)" + (f"; {note}" if note else "")
    return resource(pool["name"], "node pool", parts, note, commitment_monthly_max=commitment)


def _nodes(pools: list[dict]) -> tuple[int, int]:
    return sum(p["min_nodes"] for p in pools), sum(p["max_nodes"] for p in pools)


def _scrape_interval(plan: Plan) -> float:
    intervals = []
    for r in plan.resources:
        if r.get("type") == POD_MONITORING:
            for endpoint in (r.get("inputs") or {}).get("spec", {}).get("endpoints", []):
                text = str(endpoint.get("interval") or f"{DEFAULT_SCRAPE_S}s")
                intervals.append(float(text.rstrip("s")) * (60 if text.endswith("m") else 1))
    return min(intervals) if intervals else DEFAULT_SCRAPE_S


def cluster_resource(cluster: Any, inputs: dict, plan: Plan, usage: Infra, prices: Prices) -> dict:
    s = prices.services
    parts = [
        component(
            "GKE management fee", (HOURS_PER_MONTH,) * 2, "cluster-hour", s["gke_cluster_fee"]
        )
    ]
    monitoring = inputs.get("monitoringConfig") or {}
    if (monitoring.get("managedPrometheus") or {}).get("enabled"):
        interval = _scrape_interval(plan)
        samples = usage.prometheus_active_series * SECONDS_PER_MONTH / interval / 1e6
        parts.append(
            component(
                f"Managed Prometheus: {usage.prometheus_active_series} series every {interval:g} s",
                (samples,) * 2,
                "million samples",
                s["prometheus_samples"],
            )
        )
    # GKE sends system and workload logs to Cloud Logging unless the cluster turns it off.
    logging = (inputs.get("loggingConfig") or {}).get("enableComponents")
    if logging is None or logging:
        parts.append(
            component("Cloud Logging ingestion", (usage.logging_gib,) * 2, "GiB", s["logging"])
        )
    return resource(cluster.name, "cluster", parts)


def nat_resource(name: str, inputs: dict, pools: list[dict], usage: Infra, prices: Prices) -> dict:
    s = prices.services
    low, high = _nodes(pools)

    def gateway(vms: int) -> float:
        # Per VM up to the cap, then the flat rate: as $/month.
        hourly = s["nat_gateway_max"] if vms > NAT_VM_CAP else vms * s["nat_vm"]
        return hourly * HOURS_PER_MONTH

    ips = len(inputs.get("natIps") or []) or 1  # AUTO_ONLY allocates at least one address
    parts = [
        component(f"gateway, {low}-{high} VMs", (gateway(low), gateway(high)), "USD", 1.0),
        component(f"{ips} external IP", (ips * HOURS_PER_MONTH,) * 2, "IP-hour", s["external_ip"]),
        component("data processed", (usage.nat_processed_gib,) * 2, "GiB", s["nat_data"]),
    ]
    return resource(name, "Cloud NAT", parts)


def gateway_resource(name: str, inputs: dict, usage: Infra, prices: Prices) -> dict:
    s = prices.services
    klass = (inputs.get("spec") or {}).get("gatewayClassName", "?")
    parts = [
        component("forwarding rule", (HOURS_PER_MONTH,) * 2, "rule-hour", s["lb_forwarding_rule"]),
        component("data processed", (usage.load_balancer_processed_gib,) * 2, "GiB", s["lb_data"]),
    ]
    note = f"Gateway class {klass}"
    if "regional" in klass or klass.endswith("rilb"):
        note += "; the proxy-instance charge of regional Envoy-based load balancers is not priced"
    return resource(name, "load balancer", parts, note)


def price_resources(plan: Plan, pools: list[dict], usage: Infra, prices: Prices) -> dict:
    """Every priced resource of the plan, and how many resources carry no direct charge."""
    rows = [pool_resource(p, prices) for p in pools]
    s = prices.services
    free: dict[str, int] = {}
    clusters = iter(plan.clusters)
    for r in plan.resources:
        kind, name, inputs = r.get("type"), r.get("name") or "?", r.get("inputs") or {}
        if kind == NODE_POOL:
            continue
        if kind == CLUSTER:
            rows.append(cluster_resource(next(clusters), inputs, plan, usage, prices))
        elif kind == ROUTER_NAT:
            rows.append(nat_resource(name, inputs, pools, usage, prices))
        elif kind == GATEWAY:
            rows.append(gateway_resource(name, inputs, usage, prices))
        elif kind == BUCKET:
            purpose = (inputs.get("labels") or {}).get("purpose", name)
            gib = usage.bucket_gib.get(purpose)
            note = (
                ""
                if gib is not None
                else (f"stored size not stated: add infra.bucket_gib.{purpose} to cost/usage.yaml")
            )
            part = component("Standard storage", (gib or 0.0,) * 2, "GiB-month", s["gcs_standard"])
            rows.append(resource(name, "bucket", [part], note))
        elif kind == REGISTRY:
            gib = usage.artifact_registry_gib
            part = component("storage", (gib,) * 2, "GiB-month", s["artifact_registry"])
            rows.append(resource(name, "Artifact Registry", [part]))
        elif kind and not kind.startswith(("llmops:", "pulumi:")):
            free[kind] = free.get(kind, 0) + 1
    return {
        "resources": rows,
        "no_direct_charge": dict(sorted(free.items())),
        "monthly_min": sum(r["monthly_min"] for r in rows),
        "monthly_max": sum(r["monthly_max"] for r in rows),
    }
