"""The cost summary as Markdown for the pull-request comment."""

from __future__ import annotations

from typing import Any


def _usd(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"${value:,.{digits}f}"


def _signed(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"


def render(summary: dict[str, Any]) -> str:
    plan, priced = summary["plan"], summary["cost"]
    tables = ", ".join(f"{t['file']} ({t['date']})" for t in summary["price_tables"])
    lines = [
        f"## Cost: stack `{summary['stack']}`",
        "",
        f"**{_usd(priced['monthly_min'])} to {_usd(priced['monthly_max'])} per month** "
        f"({_usd(priced['hourly_min'], 3)} to {_usd(priced['hourly_max'], 3)} per hour) from the "
        f"{plan['format']} `{plan['path']}`.",
        "",
        "| pool | machine | region | spot | nodes | $/node-hour | $/month min | $/month max |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for pool in priced["pools"]:
        gpu = f" ({pool['gpus_per_node']}x {pool['gpu_type']})" if pool["gpu_type"] else ""
        lines.append(
            f"| {pool['name']} | {pool['machine_type']}{gpu} | {pool['region']} | "
            f"{'yes' if pool['spot'] else 'no'} | {pool['min_nodes']}-{pool['max_nodes']} | "
            f"{_usd(pool['node_hourly'], 4)} | {_usd(pool['monthly_min'])} | "
            f"{_usd(pool['monthly_max'])} |"
        )
    fee_month = priced["cluster_fee_hourly"] * 730
    lines.append(
        f"| GKE cluster fee ({len(priced['clusters'])}) | | | | | "
        f"{_usd(priced['cluster_fee_hourly'], 4)} | {_usd(fee_month)} | {_usd(fee_month)} |"
    )
    tokens = summary.get("tokens")
    lines += ["", "### Dollars per million output tokens", ""]
    if tokens is None:
        lines.append(f"Not computed: {summary['tokens_skipped']}")
    else:
        lines.append(
            f"Goodput {tokens['goodput_output_tokens_per_s']:,.1f} output tokens/s "
            f"(at {tokens['load_users']} concurrent users), measured on "
            f"{tokens['measured_on']}."
        )
        lines += [
            "",
            "| GPU pool | machine | nodes | $/1M tokens (serving nodes) | $/1M tokens (all-in) |",
            "|---|---|---:|---:|---:|",
        ]
        for row in tokens["pools"]:
            lines.append(
                f"| {row['pool']} | {row['machine_type']}{' spot' if row['spot'] else ''} | "
                f"{row['serving_nodes']} | {_usd(row['usd_per_million_output_tokens'])} | "
                f"{_usd(row['usd_per_million_output_tokens_all_in'])} |"
            )
        if not tokens["pools"]:
            lines.append("| (the plan has no GPU node pool) | | | | |")
        lines += [
            "",
            f"> {tokens['note']}",
            "",
            "All-in adds the system pool at its minimum and the cluster fee.",
        ]
    change = summary.get("diff")
    if change is not None:
        lines += [
            "",
            f"### Against the base plan (`{summary['base_plan']['path']}`)",
            "",
            f"Monthly: min {_signed(change['monthly_min_delta'])}, max "
            f"{_signed(change['monthly_max_delta'])} (base {_usd(change['base_monthly_min'])} "
            f"to {_usd(change['base_monthly_max'])}).",
        ]
        for pool in change["pools"]:
            detail = ", ".join(
                f"{name} {v['base']} -> {v['head']}" for name, v in pool["fields"].items()
            )
            lines.append(
                f"- `{pool['pool']}` {pool['change']}{': ' + detail if detail else ''} "
                f"({_signed(pool['monthly_max_delta'])}/month at max)"
            )
        if not change["pools"]:
            lines.append("- no node pool changed")
    lines += [
        "",
        f"<sub>Prices: {tables}, all-in per machine (vCPU, RAM, GPU, bundled SSD), 730-hour "
        f"months, no committed-use or free-tier discounts; plan sha256 "
        f"`{plan['sha256'][:12]}`; git `{summary['stamp']['git_sha'][:12]}`.</sub>",
        "",
    ]
    return "\n".join(lines)
