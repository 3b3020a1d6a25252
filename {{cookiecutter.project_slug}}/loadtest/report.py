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


def _load_line(summary: dict[str, Any]) -> str:
    load = summary["load"]
    if load.get("rate") is not None:
        how = (
            f"open loop, Poisson arrivals at {load['rate']:g} req/s (pool of {load['users']} "
            f"users) for {load['duration_s']:.0f} s"
        )
    else:
        how = f"{load['users']} concurrent users for {load['duration_s']:.0f} s"
    if load.get("warmup_s"):
        how += f" ({load['warmup_s']:g} s warm-up not measured)"
    if load.get("workers"):
        how += f", Locust master + {load['workers']} workers"
    mix = load.get("mix") or []
    classes = ", ".join(
        f"{c['name']} {100 * c['weight'] / sum(m['weight'] for m in mix):.0f} % "
        f"({_lengths(c['output_tokens'])})"
        for c in mix
    )
    return (
        f"`{summary['model']}` at `{summary['endpoint']}`, {how}; requests: {classes or 'n/a'}"
        f"{', ignore_eos' if load['ignore_eos'] else ''}; measured on {summary['measured_on']}."
    )


def _lengths(spec: dict[str, Any]) -> str:
    kind = spec["distribution"]
    if kind == "natural":
        return f"ends on its own, max {spec['max']} tokens"
    if kind == "fixed":
        return f"{spec['max']} tokens"
    if kind == "uniform":
        return f"{spec['min']}-{spec['max']} tokens, uniform"
    return (
        f"lognormal median {spec['median']:g}, sigma {spec['sigma']:g}, {spec['min']}-{spec['max']}"
    )


def _open_loop(loop: dict[str, Any]) -> list[str]:
    delay = loop["queue_delay_ms"]
    return [
        "",
        "### Open loop",
        "",
        f"- Arrivals: target {loop['target_rate']:g} req/s, offered "
        f"{_num(loop['offered_per_s'])} req/s ({loop['offered']} scheduled, Poisson), sent "
        f"**{_num(loop['sent_per_s'])} req/s** ({loop['sent']})",
        f"- Queueing delay (sent - scheduled): p50 {_ms(delay['p50'])} ms, p95 "
        f"{_ms(delay['p95'])} ms, max {_ms(delay['max'])} ms; TTFT from the arrival p95 "
        f"{_ms(loop['ttft_from_arrival_ms']['p95'])} ms (gated)",
        f"- Late (> {loop['late_after_ms']:g} ms): {loop['late']} ({_pct(loop['late_rate'])}), "
        f"{loop['late_no_free_sender']} of them for want of a free sender; dropped (no free "
        f"sender within drop_after_s): {loop['dropped']} ({_pct(loop['dropped_rate'])})",
        f"- Connections opened inside a request (in its TTFT; the others were opened while the "
        f"sender waited): {loop.get('connects_in_request', 0)}, p95 "
        f"{_ms((loop.get('connect_in_request_ms') or {}).get('p95'))} ms",
    ]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _knee(summary: dict[str, Any]) -> list[str]:
    knee = summary["knee"]
    rate = knee["rate"]
    verdict = {
        "converged": f"**{rate} req/s**",
        "max_rate": f"**at least {rate} req/s** (the search's max_rate passed)",
        "budget": f"**{rate} req/s so far**, not confirmed: the run budget was spent",
        "no_rate": "**none**: no rate tried met every SLO",
    }[knee["stopped_by"]]
    rule = knee["rule"]
    lines = [
        "",
        "### Knee search (open loop)",
        "",
        f"Highest rate within every SLO: {verdict}; {len(knee['runs'])} runs in "
        f"{knee['elapsed_s'] / 60:.1f} min. Rule: double from {rule['start_rate']:g} req/s "
        f"while passing, bisect to {100 * rule['resolution']:.0f} %; failures and the knee "
        f"measured {rule['repeats']} times (the majority decides); {rule['warmup_s']:g} s "
        "warm-up excluded per run. "
        "Curve: `knee.json`, plot: `knee.svg`.",
        "",
        "| run | rate | sent/s | dropped | TTFT p50 / p95 | ITL p50 / p95 | TPOT p50 | "
        "goodput req/s | tokens/s | SLOs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for number, row in enumerate(knee["curve"], start=1):
        lines.append(
            f"| {number} | {row['rate']:g} | {_num(row['sent_per_s'])} | "
            f"{_pct(row['dropped_rate'])} | {_ms(row['ttft_p50_ms'])} / {_ms(row['ttft_p95_ms'])}"
            f" | {_ms(row['itl_p50_ms'])} / {_ms(row['itl_p95_ms'])} | {_ms(row['tpot_p50_ms'])}"
            f" | {row['goodput_requests_per_s']:.2f} | {row['output_tokens_per_s']:,.1f} | "
            f"{'pass' if row['passed'] else 'FAIL: ' + ', '.join(row['failed'])} |"
        )
    return lines


def render(summary: dict[str, Any]) -> str:
    run = summary
    verdict = "PASS" if summary["passed"] else "FAIL"
    lines = [
        f"## Load test: {verdict}",
        "",
        _load_line(summary),
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
        ("tpot_ms", "time per output token (vLLM's TPOT)"),
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
        f"({run['output_tokens_per_request']:.1f} per request); input tokens "
        f"{run.get('input_tokens', 0):,} ({run.get('input_tokens_per_request', 0):.1f} per "
        f"request); total (input + output) {run.get('total_tokens_per_s', 0):,.1f} tokens/s",
        f"- Goodput (requests within every SLO): {goodput['requests_per_s']:.2f} req/s, "
        f"{goodput['output_tokens_per_s']:,.1f} tokens/s ({_pct(goodput['fraction'])} of requests)",
    ]
    for name, figures in (run.get("request_classes") or {}).items():
        out = figures["output_tokens"]
        lines.append(
            f"- Class `{name}`: {figures['requests']} requests, input "
            f"{figures['input_tokens_mean']:.1f} tokens, output p50 {out['p50']:.0f} / p95 "
            f"{out['p95']:.0f} / mean {out['mean']:.1f}"
        )
    if run["error_examples"]:
        lines.append(f"- Errors seen: {'; '.join(e[:120] for e in run['error_examples'])}")
    if run.get("open_loop"):
        lines += _open_loop(run["open_loop"])
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
    if summary.get("knee"):
        lines += _knee(summary)
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
