"""Markdown for people: the run report (report.md) and the PR-ready comparison (compare.md)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from evals.stats import PLANNING_DISCORDANCE

MAX_LISTED = 20
COMPARE_MARKER = "<!-- llmops:eval-compare -->"


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _model_line(manifest: dict[str, Any]) -> str:
    model, prompt = manifest["model"], manifest["prompt"]
    datasets = ", ".join(
        f"`{name}` v{d['version']} ({d['cases']} cases, `{d['sha256'][:12]}`)"
        for name, d in manifest["datasets"].items()
    )
    return (
        f"- model: `{model['served_model_name']}` version `{model['model_version']}` at "
        f"`{model['endpoint']}`\n"
        f"- prompt: `{prompt['name']}` v{prompt['version']} (`{prompt['sha256'][:12]}`)\n"
        f"- datasets: {datasets}\n"
        f"- decoding: {', '.join(f'{k}={v}' for k, v in manifest['decoding'].items())}\n"
        f"- git: `{manifest['git_sha'][:12]}`"
    )


def _thresholds(gate: dict[str, Any]) -> str:
    t = gate["thresholds"]
    mins = ", ".join(f"{k} ≥ {v}" for k, v in sorted(t["min_scores"].items())) or "none"
    return (
        f"Thresholds (policies/gates.yaml): minimums {mins}; at least {t['min_cases']} cases"
        f" ({t['min_cases_per_metric']} per compared metric); non-inferiority margin "
        f"{t['max_regression']} at {t['confidence']:.0%} confidence."
    )


def _skipped(skipped: dict[str, str]) -> list[str]:
    return [f"> **{name}**: {notice}" for name, notice in sorted(skipped.items())]


def run_report(summary: dict[str, Any]) -> str:
    gate = summary["gate"]
    minimums = gate["thresholds"]["min_scores"]
    lines = [
        f"# Eval report: {gate['verdict'].upper()}",
        "",
        _model_line(summary["manifest"]),
        "",
        "| metric | mean | cases | minimum | gated |",
        "|---|---:|---:|---:|---|",
    ]
    for name, m in sorted(summary["metrics"].items()):
        minimum = minimums.get(name)
        cases = f"{m['n']} (+{m['not_scored']} not scored)" if m.get("not_scored") else m["n"]
        lines.append(
            f"| {name} | {_fmt(m['mean'])} | {cases} | "
            f"{'-' if minimum is None else _fmt(minimum)} | {'yes' if m['gated'] else 'no'} |"
        )
    lines += ["", *_skipped(summary.get("skipped_metrics", {}))]
    failed = [c for c in gate["checks"] if not c["passed"]]
    if failed:
        lines += ["", "**Gate failures:**"]
        lines += [
            f"- {c['metric']} {c['check']}: {_fmt(c['value'])} (threshold {c['threshold']})"
            f"{' - ' + c['note'] if c['note'] else ''}"
            for c in failed
        ]
    lines += [
        "",
        _thresholds(gate),
        "",
        "## By category",
        "",
        "| category | cases | score |",
        "|---|---:|---:|",
    ]
    by_category: dict[str, list[float]] = defaultdict(list)
    for case in summary["cases"]:
        main = "refusal" if "refusal" in case["scores"] else "label_accuracy"
        if main in case["scores"]:
            by_category[case["category"]].append(case["scores"][main])
    for category, scores in sorted(by_category.items()):
        lines.append(f"| {category} | {len(scores)} | {sum(scores) / len(scores):.2f} |")
    wrong = [
        c
        for c in summary["cases"]
        if c["scores"].get("label_accuracy", 1) < 1 or c["scores"].get("refusal", 1) < 1
    ]
    lines += ["", f"## Wrong answers ({len(wrong)})", ""]
    if wrong:
        lines += ["| case | input | expected | answer |", "|---|---|---|---|"]
        lines += [
            f"| {c['key']} | {_short(c['input'])} | {_short(c['expected'], 30)} |"
            f" {_short(c['output'], 30)} |"
            for c in wrong[:MAX_LISTED]
        ]
        if len(wrong) > MAX_LISTED:
            lines.append(f"\n… and {len(wrong) - MAX_LISTED} more in summary.json")
    lines += _judge_section(summary)
    run, latency = summary["run"], summary["latency_ms"]
    lines += [
        "",
        f"Latency per case (as first measured): p50 {latency['p50']:.0f} ms, "
        f"p95 {latency['p95']:.0f} ms. Run: {run['cases']} cases, {run['cached']} from the "
        f"response cache ({run['cache']}), concurrency {run['concurrency']}, "
        f"{run['seconds']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def _judge_section(summary: dict[str, Any]) -> list[str]:
    """Per model-scored metric: its judge or guard, then ground truth, answer, score, reason."""
    lines: list[str] = []
    for role, kind in (("Judge", "geval"), ("Guard", "llama_guard")):
        scorer = summary["manifest"].get(role.lower())
        names = [
            n
            for n, m in sorted(summary["metrics"].items())
            if m.get("judge") and m.get("judge_kind", "geval") == kind
        ]
        if not scorer or not names:
            continue
        lines += [
            "",
            f"## {role}: `{scorer['model']}` version `{scorer['model_version']}` at "
            f"`{scorer['endpoint']}`",
            "",
            f"Structured output: {scorer['structured_output']}; "
            f"{', '.join(f'{k}={v}' for k, v in scorer['decoding'].items())}.",
        ]
        for name in names:
            lines += _judged_cases(summary, name)
    if lines:
        lines += ["", f"{summary['run'].get('judge_cached', 0)} judge/guard scores from the cache."]
    return lines


def _judged_cases(summary: dict[str, Any], name: str) -> list[str]:
    scored = [c for c in summary["cases"] if name in c["scores"]]
    failed = [c for c in summary["cases"] if name in c.get("judge_errors", {})]
    lines = [
        "",
        f"### {name}: {len(scored)} scored, {len(failed)} not scored",
        "",
        "| case | expected | answer | score | reason |",
        "|---|---|---|---:|---|",
    ]
    lines += [
        f"| {c['key']} | {_short(c['expected'], 25)} | {_short(c['output'], 25)} | "
        f"{c['scores'][name]:.2f} | {_short(c['reasons'].get(name, ''), 80)} |"
        for c in scored[:MAX_LISTED]
    ]
    lines += [
        f"| {c['key']} | {_short(c['expected'], 25)} | {_short(c['output'], 25)} | "
        f"not scored | {_short(c['judge_errors'][name], 80)} |"
        for c in failed[:MAX_LISTED]
    ]
    return lines


def compare_report(result: dict[str, Any]) -> str:
    comparison, gate = result["comparison"], result["gate"]
    icon = "✅" if gate["passed"] else "❌"
    base, head = comparison["base"], comparison["head"]

    def side(s: dict[str, Any]) -> str:
        return (
            f"`{s['model']['served_model_name']}` v`{s['model']['model_version']}`, prompt "
            f"`{s['prompt']['name']}` v{s['prompt']['version']} (`{s['prompt']['sha256'][:12]}`)"
        )

    conf = f"{comparison['confidence']:.0%}"
    margin = gate["thresholds"]["max_regression"]
    lines = [
        COMPARE_MARKER,
        f"### {icon} Evals: base vs head: {gate['verdict'].upper()}",
        "",
        f"- base: {side(base)}",
        f"- head: {side(head)}",
        f"- {comparison['paired_cases']} paired cases"
        + (
            f"; {len(comparison['unpaired_cases'])} unpaired (added, removed or edited) "
            "not compared"
            if comparison["unpaired_cases"]
            else ""
        ),
        "",
        f"| metric | base | head | delta | {conf} CI | cases | changed (-/+) | outcome | detects |"
        f" cases for {margin} | gate |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|",
    ]
    status = {c["metric"]: c for c in gate["checks"] if c["check"] == "non_inferiority"}
    mins = {c["metric"]: c for c in gate["checks"] if c["check"] == "min_score"}
    for name, m in sorted(comparison["metrics"].items()):
        marks = [c for c in (status.get(name), mins.get(name)) if c]
        verdict = (
            "not gated" if not marks else "pass" if all(c["passed"] for c in marks) else "**fail**"
        )
        if m.get("missing"):
            lines.append(
                f"| {name} | - | - | - | - | 0 | - | - | - | - | {verdict}: {m['missing']} |"
            )
            continue
        changed = f"{m['regressed']} / {m['improved']}" if "improved" in m else "-"
        # `*`: nothing changed, so the detectable effect assumes the planning change rate.
        mark = "" if m.get("mde_basis", "observed").startswith("observed") else " *"
        lines.append(
            f"| {name} | {m['base']:.3f} | {m['head']:.3f} | {m['delta']:+.3f} | "
            f"[{m['ci_low']:+.3f}, {m['ci_high']:+.3f}] | {m['n']} | {changed} | "
            f"{m.get('outcome', '-')} | {_fmt(m.get('mde'))}{mark} | "
            f"{m.get('cases_needed', '-')} | {verdict} |"
        )
    power = comparison.get("power", 0.8)
    lines += [
        "",
        f"*detects*: the smallest regression these cases flag {power:.0%} of the time at "
        f"{conf} confidence, for a head as good as base with the observed spread (share of "
        f"changed answers); *cases for {margin}*: how many the margin needs at that spread; "
        f"`*`: no case changed, {PLANNING_DISCORDANCE:.0%} assumed. Pass/fail metrics use "
        "Tango's score interval, others the paired bootstrap; `inconclusive` fails the gate.",
    ]
    for title, key in (
        ("Regressions (passed on base, fail on head)", "regressions"),
        ("Improvements (failed on base, pass on head)", "improvements"),
    ):
        flips = comparison["flipped"][key]
        lines += ["", f"**{title}: {len(flips)}**"]
        if flips:
            lines += [
                "",
                "| case | metric | input | expected | base | head |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {f['key']} | {f['metric']} | {_short(f['input'], 50)} | "
                f"{_short(f['expected'], 25)} | {_short(f['base_output'], 25)} | "
                f"{_short(f['head_output'], 25)} |"
                for f in flips[:MAX_LISTED]
            ]
            if len(flips) > MAX_LISTED:
                lines.append(f"\n… and {len(flips) - MAX_LISTED} more in compare.json")
    failed = [c for c in gate["checks"] if not c["passed"]]
    if failed:
        lines += ["", "**Gate failures:**"]
        lines += [
            f"- {c['metric']} {c['check']}: {_fmt(c['value'])} (threshold {c['threshold']})"
            f"{' - ' + c['note'] if c['note'] else ''}"
            for c in failed
        ]
    lines += ["", *_skipped(result.get("skipped_metrics", {})), "", _thresholds(gate), ""]
    return "\n".join(lines)
