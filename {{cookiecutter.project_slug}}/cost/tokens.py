"""Dollars per million input and output tokens, per request and per user per month, for every
GPU pool, beside the same usage priced at hosted APIs' list prices.

Two throughput sources, never confused:
- the roofline bound (cost/roofline.py) of the pool's GPU, always, labelled an upper bound on
  throughput (so a lower bound on cost);
- the load test's measured goodput, only when its hardware (`HARDWARE=` of `make load`) names
  the pool's GPU and count. A CPU run or an unstated remote endpoint never becomes a GPU's price.

At utilisation u a node-hour serves u x 3600 s of traffic:
    $/1M tokens = node price x nodes / (tokens/s x 3600 x u) x 1e6
Roofline: input tokens pay for prefill time, output tokens for decode time, each at its bound.
Measured: the goodput's output tokens carry the whole node-hour (their prompts' prefill
included): a blended $/1M output tokens; a request costs its output tokens at that rate.
"""

from __future__ import annotations

import re
from typing import Any

from cost.prices import Prices
from cost.roofline import RooflineError, roofline
from cost.usage import Usage
from infra.catalog import GpuCatalog

MILLION = 1e6


def per_million(node_hourly: float, nodes: int, tokens_per_s: float, utilisation: float) -> float:
    return node_hourly * nodes / (tokens_per_s * 3600 * utilisation) * MILLION


def hardware_match(measured_on: str, gpu_type: str, gpus_per_node: int) -> tuple[bool, str]:
    """Whether the load test ran on this pool's GPU (and as many per node); if not, why."""
    text = measured_on.lower()
    named = re.search(rf"(?:(\d+)\s*x\s*)?(?<![\w-]){re.escape(gpu_type)}(?![\w-])", text)
    if named:
        count = named.group(1)
        if count and int(count) != gpus_per_node:
            return False, (
                f"measured on {count}x {gpu_type}, the pool has {gpus_per_node} per node"
            )
        return True, f"measured on {measured_on}"
    if "remote endpoint" in text and "not stated" in text:
        return False, f"the load test's hardware is unknown ({measured_on})"
    if "cpu" in text:
        return False, f"measured on {measured_on}: a CPU, not {gpu_type}"
    return False, f"measured on {measured_on}, which does not name {gpu_type}"


def _figures(usd_in: float | None, usd_out: float, usage: Usage) -> dict[str, float | None]:
    users = usage.users
    request = users.output_tokens_per_request * usd_out / MILLION
    if usd_in is not None:
        request += users.input_tokens_per_request * usd_in / MILLION
    return {
        "usd_per_million_input_tokens": usd_in,
        "usd_per_million_output_tokens": usd_out,
        "usd_per_request": request,
        "usd_per_user_month": request * users.requests_per_month,
    }


def _roofline_row(pool: dict, usage: Usage, catalog: GpuCatalog, batch: int, mem: float) -> dict:
    entry = catalog.gpus.get(pool["gpu_type"])
    if entry is None or entry.hardware is None:
        return {
            "missing": f"catalog/gpu_availability.yaml has no `hardware` for {pool['gpu_type']}"
        }
    users = usage.users
    try:
        bound = roofline(
            entry.hardware,
            pool["gpus_per_node"],
            usage.model,
            batch,
            users.input_tokens_per_request,
            users.output_tokens_per_request,
            mem,
        )
    except RooflineError as error:
        return {"missing": str(error)}
    u = usage.utilisation
    return {
        **bound.as_dict(),
        **_figures(
            per_million(pool["node_hourly"], 1, bound.prefill_tokens_per_s, u),
            per_million(pool["node_hourly"], 1, bound.decode_tokens_per_s, u),
            usage,
        ),
    }


def token_cost(
    priced: dict[str, Any],
    load: dict[str, Any] | None,
    usage: Usage,
    prices: Prices,
    catalog: GpuCatalog,
    *,
    batch: int,
    gpu_memory_utilization: float,
    serving_nodes: int = 1,
) -> dict[str, Any]:
    measured_on = (load or {}).get("measured_on", "unknown hardware")
    goodput = float(load["goodput"]["output_tokens_per_s"]) if load else None
    u = usage.utilisation
    # The always-on share: system pool at its minimum (with disks) and the cluster fee.
    overhead = priced["cluster_fee_hourly"] + sum(
        p["monthly_min"] / 730 for p in priced["pools"] if p["kind"] == "system"
    )
    rows, warnings = [], []
    for pool in (p for p in priced["pools"] if p["kind"] == "gpu"):
        row: dict[str, Any] = {
            "pool": pool["name"],
            "machine_type": pool["machine_type"],
            "gpu_type": pool["gpu_type"],
            "gpus_per_node": pool["gpus_per_node"],
            "spot": pool["spot"],
            "node_hourly": pool["node_hourly"],
            "serving_nodes": serving_nodes,
            "roofline": _roofline_row(pool, usage, catalog, batch, gpu_memory_utilization),
            "measured": None,
            # The figure the report stands behind: measured on this GPU, else none.
            "usd_per_million_output_tokens": None,
            "usd_per_million_output_tokens_all_in": None,
        }
        if load is None:
            row["measured_hidden"] = "no load summary"
        else:
            matches, why = hardware_match(measured_on, pool["gpu_type"], pool["gpus_per_node"])
            row["measured_hidden"] = None if matches else why
            if matches and goodput and goodput > 0:
                blended = per_million(pool["node_hourly"], serving_nodes, goodput, u)
                all_in = per_million(pool["node_hourly"] * serving_nodes + overhead, 1, goodput, u)
                row["measured"] = {
                    "output_tokens_per_s": goodput,
                    **_figures(None, blended, usage),
                    "usd_per_million_output_tokens_all_in": all_in,
                }
                row["usd_per_million_output_tokens"] = blended
                row["usd_per_million_output_tokens_all_in"] = all_in
            elif matches:
                row["measured_hidden"] = "the load test measured no goodput (0 tokens/s)"
        rows.append(row)
    if load is not None and "remote endpoint" in measured_on and "not stated" in measured_on:
        warnings.append(
            f"WARNING: the load summary was measured on an unknown remote endpoint "
            f"({measured_on}): no measured $/token is shown. Rerun `make load "
            f'ENDPOINT=... HARDWARE="1x nvidia-l4 (g2-standard-8)"` naming the GPU it ran on.'
        )
    hosted = [
        {
            "provider": p.provider,
            "model": p.model,
            "source": p.source,
            **_figures(p.input_usd_per_mtok, p.output_usd_per_mtok, usage),
        }
        for p in (prices.tokens.get(m) for m in usage.hosted_api)
    ]
    return {
        "utilisation": u,
        "usage": usage.users.model_dump(),
        "model": usage.model.model_dump(),
        "measured_on": measured_on if load else None,
        "measured_on_cpu": bool(load) and "cpu" in measured_on.lower(),
        "goodput_output_tokens_per_s": goodput,
        "load_users": (load or {}).get("load", {}).get("users"),
        "overhead_hourly": overhead,
        "pools": rows,
        "hosted_api": hosted,
        "hosted_api_table": {"file": prices.tokens.path.name, "date": prices.tokens.date},
        "warnings": warnings,
    }
