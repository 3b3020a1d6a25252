"""The cost summary as Markdown for the pull-request comment."""

from __future__ import annotations

import math
from typing import Any


def _usd(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"${value:,.{digits}f}"


def _small(value: float | None) -> str:
    """Fractions of a cent keep three significant digits: $0.0354, $0.0000763."""
    if value is None:
        return "n/a"
    if value >= 10 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.{max(2, 2 - math.floor(math.log10(value)))}f}"


def _signed(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"


def _qty(low: float, high: float) -> str:
    text = f"{low:,.4g}" if low == high else f"{low:,.4g}-{high:,.4g}"
    return text


def _money(low: float, high: float) -> str:
    return _usd(low) if abs(low - high) < 0.005 else f"{_usd(low)} - {_usd(high)}"


def _resources(priced: dict[str, Any]) -> list[str]:
    lines = [
        "| resource | kind | component | quantity / month | unit price | $/month (min-max nodes) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in priced["resources"]:
        for i, part in enumerate(row["components"]):
            unit = "" if part["unit"] == "USD" else f"{_small(part['unit_usd'])} / {part['unit']}"
            quantity = (
                "" if part["unit"] == "USD" else _qty(part["quantity_min"], part["quantity_max"])
            )
            lines.append(
                f"| {row['resource'] if i == 0 else ''} | {row['kind'] if i == 0 else ''} | "
                f"{part['name']} | {quantity} | {unit} | "
                f"{_money(part['monthly_min'], part['monthly_max'])} |"
            )
        lines.append(
            f"| | | **{row['resource']} total** | | | "
            f"**{_money(row['monthly_min'], row['monthly_max'])}** |"
        )
    notes = [
        f"- `{row['resource']}`: {row['note']}" for row in priced["resources"] if row.get("note")
    ]
    for row in priced["resources"]:
        commitment = row.get("commitment_monthly_max")
        if commitment:
            terms = ", ".join(f"{term} {_usd(v)}" for term, v in commitment.items())
            notes.append(f"- `{row['resource']}` at max nodes with committed-use prices: {terms}")
    free = priced["no_direct_charge"]
    if free:
        notes.append(
            f"- {sum(free.values())} resources with no direct charge: "
            + ", ".join(f"{n} {kind.rsplit(':', 1)[-1]}" for kind, n in free.items())
        )
    return [*lines, "", *notes]


def _tokens(tokens: dict[str, Any], skipped: str | None) -> list[str]:
    users = tokens["usage"]
    lines = [
        "",
        "### Dollars per token, request and user",
        "",
        f"Usage profile (`cost/usage.yaml`): {users['requests_per_user_per_day']:g} requests per "
        f"user per day x {users['input_tokens_per_request']} input + "
        f"{users['output_tokens_per_request']} output tokens, {users['days_per_month']:g} days a "
        f"month; GPU utilisation **{tokens['utilisation']:.0%}** (price / (throughput x "
        "utilisation)).",
        "",
    ]
    lines += [f"> {w}" for w in tokens["warnings"]]
    if skipped:
        lines.append(f"Measured figures: {skipped}.")
    elif tokens["measured_on"]:
        lines.append(
            f"Load test: {tokens['goodput_output_tokens_per_s']:,.1f} goodput output tokens/s at "
            f"{tokens['load_users']} users, measured on {tokens['measured_on']}."
        )
    lines += [
        "",
        "| GPU pool | throughput source | $/1M input | $/1M output | $/request | $/user/month |",
        "|---|---|---:|---:|---:|---:|",
    ]
    bounds = []
    for row in tokens["pools"]:
        spot = ", spot" if row["spot"] else ""
        name = f"{row['pool']} ({row['gpus_per_node']}x {row['gpu_type']}{spot})"
        bound = row["roofline"]
        if "missing" in bound:
            lines.append(f"| {name} | roofline: not computed ({bound['missing']}) | | | | |")
        else:
            lines.append(
                f"| {name} | roofline, upper bound on throughput (so cost at least) | "
                f"{_small(bound['usd_per_million_input_tokens'])} | "
                f"{_small(bound['usd_per_million_output_tokens'])} | "
                f"{_small(bound['usd_per_request'])} | {_small(bound['usd_per_user_month'])} |"
            )
            bounds.append((row, bound))
        measured = row["measured"]
        if measured:
            lines.append(
                f"| | measured {measured['output_tokens_per_s']:,.1f} tokens/s on "
                f"{row['serving_nodes']} node(s) (blended: prompts included) | | "
                f"{_small(measured['usd_per_million_output_tokens'])} "
                f"(all-in {_small(measured['usd_per_million_output_tokens_all_in'])}) | "
                f"{_small(measured['usd_per_request'])} | "
                f"{_small(measured['usd_per_user_month'])} |"
            )
        else:
            lines.append(f"| | measured: not shown ({row['measured_hidden']}) | | | | |")
    if not tokens["pools"]:
        lines.append("| (the plan has no GPU node pool) | | | | | |")
    for row, bound in bounds:
        lines += [
            "",
            f"Roofline of `{row['pool']}`: decode <= {bound['decode_tokens_per_s']:,.0f} tokens/s, "
            f"prefill <= {bound['prefill_tokens_per_s']:,.0f} tokens/s per node. Assumptions:",
            *(f"- {a}" for a in bound["assumptions"]),
        ]
    lines += [
        "",
        "A measured figure appears only when `make load HARDWARE=...` names the pool's GPU and "
        "count; all-in adds the system pool at its minimum and the cluster fee.",
        "",
        "| hosted API (list price) | $/1M input | $/1M output | $/request | $/user/month |",
        "|---|---:|---:|---:|---:|",
    ]
    for api in tokens["hosted_api"]:
        lines.append(
            f"| {api['provider']} {api['model']} | {_small(api['usd_per_million_input_tokens'])} | "
            f"{_small(api['usd_per_million_output_tokens'])} | {_small(api['usd_per_request'])} | "
            f"{_small(api['usd_per_user_month'])} |"
        )
    table = tokens["hosted_api_table"]
    lines.append(
        f"\nHosted API prices: list prices of `{table['file']}` as of {table['date']} (sources "
        "in the file), standard tier, no discounts."
    )
    return lines


def _diff(summary: dict[str, Any]) -> list[str]:
    change = summary["diff"]
    lines = [
        "",
        f"### Against the base plan (`{summary['base_plan']['path']}`)",
        "",
        f"Monthly: min {_signed(change['monthly_min_delta'])}, max "
        f"{_signed(change['monthly_max_delta'])} (base {_usd(change['base_monthly_min'])} "
        f"to {_usd(change['base_monthly_max'])}).",
    ]
    if not change["resources"]:
        return [*lines, "", "- no priced resource changed"]
    lines += [
        "",
        "| resource | change | base $/month max | head $/month max | delta min | delta max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in change["resources"]:
        detail = ", ".join(f"{k} {v['base']} -> {v['head']}" for k, v in row["fields"].items())
        lines.append(
            f"| {row['resource']} | {row['change']}{': ' + detail if detail else ''} | "
            f"{_usd(row['base_monthly_max'])} | {_usd(row['head_monthly_max'])} | "
            f"{_signed(row['monthly_min_delta'])} | {_signed(row['monthly_max_delta'])} |"
        )
    return lines


def render(summary: dict[str, Any]) -> str:
    plan, priced = summary["plan"], summary["cost"]
    tables = ", ".join(f"{t['file']} ({t['date']})" for t in summary["price_tables"])
    lines = [
        f"## Cost: stack `{summary['stack']}`",
        "",
        f"**{_usd(priced['monthly_min'])} to {_usd(priced['monthly_max'])} per month** "
        f"(node pools at min to max nodes, usage from `{summary['usage_file']}`) from the "
        f"{plan['format']} `{plan['path']}`.",
        "",
        *_resources(priced),
        *_tokens(summary["tokens"], summary["tokens_skipped"]),
    ]
    if summary.get("diff") is not None:
        lines += _diff(summary)
    lines += [
        "",
        f"<sub>Prices: {tables}; machines all-in (vCPU, RAM, GPU, bundled SSD), services at "
        f"us-central1 list prices, 730-hour months, no free-tier or discount credits; plan "
        f"sha256 `{plan['sha256'][:12]}`; git `{summary['stamp']['git_sha'][:12]}`.</sub>",
        "",
    ]
    return "\n".join(lines)
