"""Cost arithmetic: the plan's hourly/monthly cost at min and max nodes, and $ per 1M tokens.

$ per 1M output tokens = node price ($/h) x nodes / (goodput tokens/s x 3600) x 1e6
"""

from __future__ import annotations

from typing import Any

from cost.plan import Plan
from cost.prices import CLUSTER_FEE_PER_HOUR, HOURS_PER_MONTH, Prices


def price_plan(plan: Plan, prices: Prices) -> dict[str, Any]:
    """Every node pool priced at its min and max node count, plus the cluster fees."""
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
                "min_nodes": pool.min_nodes,
                "max_nodes": pool.max_nodes,
                "node_hourly": hourly,
                "price_table": table.path.name,
                "hourly_min": hourly * pool.min_nodes,
                "hourly_max": hourly * pool.max_nodes,
                "monthly_min": hourly * pool.min_nodes * HOURS_PER_MONTH,
                "monthly_max": hourly * pool.max_nodes * HOURS_PER_MONTH,
            }
        )
    fee = CLUSTER_FEE_PER_HOUR * len(plan.clusters)
    hourly_min = fee + sum(p["hourly_min"] for p in pools)
    hourly_max = fee + sum(p["hourly_max"] for p in pools)
    return {
        "pools": pools,
        "clusters": [c.name for c in plan.clusters],
        "cluster_fee_hourly": fee,
        "hourly_min": hourly_min,
        "hourly_max": hourly_max,
        "monthly_min": hourly_min * HOURS_PER_MONTH,
        "monthly_max": hourly_max * HOURS_PER_MONTH,
    }


def per_million_tokens(node_hourly: float, nodes: int, tokens_per_s: float) -> float | None:
    """Dollars per million output tokens when `nodes` nodes deliver `tokens_per_s` together."""
    if tokens_per_s <= 0:
        return None
    return node_hourly * nodes / (tokens_per_s * 3600) * 1e6


def token_cost(priced: dict[str, Any], load: dict[str, Any], serving_nodes: int) -> dict:
    """$ per 1M output tokens on each GPU pool at the measured goodput."""
    goodput = float(load["goodput"]["output_tokens_per_s"])
    measured_on = load.get("measured_on", "unknown hardware")
    gpu_pools = [p for p in priced["pools"] if p["kind"] == "gpu"]
    # The always-on share: system pool at its minimum and the cluster fee.
    overhead = priced["cluster_fee_hourly"] + sum(
        p["hourly_min"] for p in priced["pools"] if p["kind"] == "system"
    )
    rows = []
    for pool in gpu_pools:
        serving = per_million_tokens(pool["node_hourly"], serving_nodes, goodput)
        all_in = per_million_tokens(pool["node_hourly"] * serving_nodes + overhead, 1, goodput)
        rows.append(
            {
                "pool": pool["name"],
                "machine_type": pool["machine_type"],
                "spot": pool["spot"],
                "node_hourly": pool["node_hourly"],
                "serving_nodes": serving_nodes,
                "usd_per_million_output_tokens": serving,
                "usd_per_million_output_tokens_all_in": all_in,
            }
        )
    on_cpu = "cpu" in measured_on.lower()
    return {
        "goodput_output_tokens_per_s": goodput,
        "load_users": load.get("load", {}).get("users"),
        "measured_on": measured_on,
        "measured_on_cpu": on_cpu,
        "overhead_hourly": overhead,
        "pools": rows,
        "note": (
            "throughput was measured on a CPU, not on the target GPU: these figures price the "
            "GPU as if it only matched the CPU (an upper bound). Run `make load` against the "
            "GKE endpoint with HARDWARE=<gpu> for the real figure."
            if on_cpu
            else f"throughput measured on {measured_on}"
        ),
    }


def diff(head: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """What changes against the base plan: pools added, removed or changed, and totals."""
    fields = ("machine_type", "region", "spot", "min_nodes", "max_nodes", "node_hourly")
    base_pools = {p["name"]: p for p in base["pools"]}
    head_pools = {p["name"]: p for p in head["pools"]}
    changes = []
    for name in sorted(base_pools.keys() | head_pools.keys()):
        old, new = base_pools.get(name), head_pools.get(name)
        if old is None or new is None:
            pool = new or old
            changes.append(
                {
                    "pool": name,
                    "change": "added" if new else "removed",
                    "monthly_max_delta": pool["monthly_max"] * (1 if new else -1),
                    "fields": {},
                }
            )
            continue
        moved = {f: {"base": old[f], "head": new[f]} for f in fields if old[f] != new[f]}
        if moved:
            changes.append(
                {
                    "pool": name,
                    "change": "changed",
                    "fields": moved,
                    "monthly_max_delta": new["monthly_max"] - old["monthly_max"],
                }
            )
    return {
        "pools": changes,
        "monthly_min_delta": head["monthly_min"] - base["monthly_min"],
        "monthly_max_delta": head["monthly_max"] - base["monthly_max"],
        "base_monthly_min": base["monthly_min"],
        "base_monthly_max": base["monthly_max"],
    }
