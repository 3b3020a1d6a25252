"""The load summary as Markdown, written for a reviewer reading a pull request."""

from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _limit(check: dict[str, Any]) -> str:
    name, limit = check["name"], check["limit"]
    if name == "requests":
        return f">= {limit}"
    if name.endswith("_rate"):
        return f"<= {_pct(limit)}"
    return f"<= {limit:,.0f} ms"


def _value(check: dict[str, Any]) -> str:
    name, value = check["name"], check["value"]
    if name == "requests":
        return str(value)
    if name.endswith("_rate"):
        return _pct(value)
    return f"{_ms(value)} ms"


def render(summary: dict[str, Any]) -> str:
    run = summary
    verdict = "PASS" if summary["passed"] else "FAIL"
    load = summary["load"]
    lines = [
        f"## Load test: {verdict}",
        "",
        f"`{summary['model']}` at `{summary['endpoint']}`, {load['users']} concurrent users for "
        f"{load['duration_s']:.0f} s, max_tokens {load['max_tokens']}"
        f"{', ignore_eos' if load['ignore_eos'] else ''}; measured on {summary['measured_on']}.",
        "",
        "| SLO | measured | threshold | |",
        "|---|---:|---:|---|",
    ]
    for check in run["gate"]["checks"]:
        mark = "pass" if check["passed"] else "**FAIL**"
        if check.get("note"):
            mark += f" ({check['note']})"
        lines.append(f"| {check['name']} | {_value(check)} | {_limit(check)} | {mark} |")
    lines += [
        "",
        "| latency (ms) | p50 | p95 | p99 | mean | n |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("ttft_ms", "time to first token"),
        ("itl_ms", "inter-token (per token)"),
        ("chunk_itl_ms", "inter-chunk (vLLM client's ITL)"),
        ("e2e_ms", "end-to-end"),
    ):
        d = run.get(key)
        if d is None:
            continue
        lines.append(
            f"| {label} | {_ms(d['p50'])} | {_ms(d['p95'])} | {_ms(d['p99'])} "
            f"| {_ms(d['mean'])} | {d['n']} |"
        )
    goodput = run["goodput"]
    lines += [
        "",
        f"- Requests: {run['requests']} ({run['errors']} errors, {run['truncations']} truncated"
        f"{' by design (ignore_eos)' if run.get('ignore_eos') else ''}), "
        f"{run['requests_per_s']:.2f} req/s over {run['window_s']:.1f} s",
        f"- Output tokens: {run['output_tokens']:,} = "
        f"**{run['output_tokens_per_s']:,.1f} tokens/s** "
        f"({run['output_tokens_per_request']:.1f} per request)",
        f"- Goodput (requests within every SLO): {goodput['requests_per_s']:.2f} req/s, "
        f"{goodput['output_tokens_per_s']:,.1f} tokens/s ({_pct(goodput['fraction'])} of requests)",
    ]
    if run["error_examples"]:
        lines.append(f"- Errors seen: {'; '.join(e[:120] for e in run['error_examples'])}")
    lines += ["", "### Self-checks", ""]
    cpu = run["generator_cpu"]
    if cpu["mean"] is None:
        lines.append("- Load generator CPU: not measured")
    else:
        lines.append(
            f"- Load generator CPU: mean {cpu['mean']:.0f} %, p95 {cpu['p95']:.0f} % of a core "
            f"-> **{cpu['status']}** (warn at {cpu['warn_at']:.0f} %, invalid at "
            f"{cpu['fail_at']:.0f} %)"
        )
    check = run["server_cross_check"]
    if check["status"] == "unavailable":
        lines.append(f"- Server TTFT cross-check: unavailable ({check['reason']})")
    else:
        server = run["server"]["ttft_ms"]
        lines.append(
            f"- Server TTFT (vLLM histogram, {server['count']} requests): mean "
            f"{_ms(server['mean'])} ms, p50 ~{_ms(server['p50'])} ms; client mean "
            f"{_ms(check['client_mean_ms'])} ms -> **{check['status']}** "
            f"(ratio {check['ratio']:.2f})"
        )
    itl = run.get("server_itl_cross_check") or {"status": "unavailable", "reason": "not run"}
    if itl["status"] == "unavailable":
        lines.append(f"- Server ITL cross-check: unavailable ({itl['reason']})")
    else:
        lines.append(
            f"- Server ITL (vLLM histogram, {run['server']['itl_ms']['count']} steps): mean "
            f"{itl['server_mean_ms']:.2f} ms, p50 ~{_ms(itl['server_p50_ms'])} ms; client "
            f"per-token mean {itl['client_mean_ms']:.2f} ms, p50 {_ms(itl['client_p50_ms'])} ms "
            f"-> **{itl['status']}** (ratio {itl['ratio']:.2f}; reported, not gated)"
        )
    if summary.get("steps"):
        lines += [
            "",
            "### Step search (goodput)",
            "",
            "| users | req/s | tokens/s | goodput tokens/s | TTFT p95 | ITL p95 | SLOs |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        for step in summary["steps"]:
            lines.append(
                f"| {step['users']} | {step['requests_per_s']:.2f} | "
                f"{step['output_tokens_per_s']:,.1f} | {step['goodput_tokens_per_s']:,.1f} | "
                f"{_ms(step['ttft_p95_ms'])} | {_ms(step['itl_p95_ms'])} | "
                f"{'pass' if step['passed'] else 'FAIL: ' + ', '.join(step['failed'])} |"
            )
        best = summary.get("max_users_within_slo")
        lines.append("")
        lines.append(
            f"Highest load within the SLOs: **{best} users**."
            if best
            else "No tested load met the SLOs."
        )
    for warning in summary["warnings"]:
        lines.append(f"- WARNING: {warning}")
    stamp = summary["stamp"]
    lines += [
        "",
        f"<sub>prompt set sha256 `{stamp['prompt_set_sha256'][:12]}`, git `{stamp['git_sha'][:12]}`"
        f", {stamp['created_at']}; thresholds from policies/gates.yaml (load).</sub>",
        "",
    ]
    return "\n".join(lines)
