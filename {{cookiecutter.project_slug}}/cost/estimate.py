"""The plan priced: node pools at their min and max node counts, every other priced resource
(cost/infra.py), totals, and the per-resource difference against a base plan."""

from __future__ import annotations

from typing import Any

from cost import infra
from cost.plan import Plan
from cost.prices import HOURS_PER_MONTH, Prices
from cost.usage import Infra


def price_pools(plan: Plan, prices: Prices) -> list[dict[str, Any]]:
    pools = []
    for pool in plan.pools:
        price, table = prices.price(pool.machine_type, pool.region)
        hourly = price.hourly(pool.spot)
        pools.append(
            {
                "name": pool.name,
                "kind": pool.kind,
                "machine_type": pool.machine_type,
                "gpu_type": pool.gpu_type,
                "gpus_per_node": pool.gpus_per_node,
                "region": pool.region,
                "spot": pool.spot,
                "capacity": pool.capacity,
                "min_nodes": pool.min_nodes,
                "max_nodes": pool.max_nodes,
                "disk_gb": pool.disk_gb,
                "disk_type": pool.disk_type,
                "node_hourly": hourly,
                "month_1y_cud": price.month_1y_cud,
                "month_3y_cud": price.month_3y_cud,
                "price_table": table.path.name,
                "hourly_min": hourly * pool.min_nodes,
                "hourly_max": hourly * pool.max_nodes,
            }
        )
    return pools


def price_plan(plan: Plan, prices: Prices, usage: Infra) -> dict[str, Any]:
    """Node pools (machines + boot disks) and every other priced resource, per month."""
    pools = price_pools(plan, prices)
    priced = infra.price_resources(plan, pools, usage, prices)
    by_name = {r["resource"]: r for r in priced["resources"]}
    for pool in pools:  # a pool's month includes its boot disks
        pool["monthly_min"] = by_name[pool["name"]]["monthly_min"]
        pool["monthly_max"] = by_name[pool["name"]]["monthly_max"]
    fee = prices.services["gke_cluster_fee"] * len(plan.clusters)
    return {
        "pools": pools,
        "clusters": [c.name for c in plan.clusters],
        "cluster_fee_hourly": fee,
        **priced,
        "hourly_min": priced["monthly_min"] / HOURS_PER_MONTH,
        "hourly_max": priced["monthly_max"] / HOURS_PER_MONTH,
    }


def diff(head: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Per resource: added, removed or changed (monthly min/max), and the totals."""
    old_rows = {r["resource"]: r for r in base["resources"]}
    new_rows = {r["resource"]: r for r in head["resources"]}
    old_pools = {p["name"]: p for p in base["pools"]}
    new_pools = {p["name"]: p for p in head["pools"]}
    fields = ("machine_type", "region", "spot", "min_nodes", "max_nodes", "disk_gb", "node_hourly")
    changes = []
    for name in sorted(old_rows.keys() | new_rows.keys()):
        old, new = old_rows.get(name), new_rows.get(name)
        low = (new["monthly_min"] if new else 0.0) - (old["monthly_min"] if old else 0.0)
        high = (new["monthly_max"] if new else 0.0) - (old["monthly_max"] if old else 0.0)
        moved = {}
        if name in old_pools and name in new_pools:
            a, b = old_pools[name], new_pools[name]
            moved = {f: {"base": a[f], "head": b[f]} for f in fields if a[f] != b[f]}
        if old and new and not moved and abs(low) < 0.005 and abs(high) < 0.005:
            continue
        changes.append(
            {
                "resource": name,
                "kind": (new or old)["kind"],
                "change": "added" if old is None else "removed" if new is None else "changed",
                "fields": moved,
                "base_monthly_max": old["monthly_max"] if old else 0.0,
                "head_monthly_max": new["monthly_max"] if new else 0.0,
                "monthly_min_delta": low,
                "monthly_max_delta": high,
            }
        )
    return {
        "resources": changes,
        "monthly_min_delta": head["monthly_min"] - base["monthly_min"],
        "monthly_max_delta": head["monthly_max"] - base["monthly_max"],
        "base_monthly_min": base["monthly_min"],
        "base_monthly_max": base["monthly_max"],
    }
