"""Collect every stage's evidence from build/ for the report; say plainly what is missing.

Each section is what one stage wrote (its JSON and Markdown), or a `missing` note naming the file
and the command that makes it. Nothing here invents a number: headlines are read from the JSON,
and a field that is not there is shown as not reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.contracts import ContractError, EvalSummary, LoadSummary


@dataclass
class Section:
    key: str
    title: str
    command: str
    data: dict[str, Any] | None = None
    markdown: str = ""
    files: list[Path] = field(default_factory=list)
    problem: str = ""
    headline: str = ""
    status: str = "missing"  # ok | failed | missing | info

    @property
    def present(self) -> bool:
        return self.data is not None


def _read_json(path: Path) -> tuple[dict[str, Any] | None, str]:
    if not path.exists():
        return None, f"`{path.relative_to(path.parents[2])}` not found"
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        return None, f"`{path.name}` is not valid JSON ({error.msg} at line {error.lineno})"
    if not isinstance(document, dict):
        return None, f"`{path.name}` is not a JSON object"
    return document, ""


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not reported"
    return f"{value:{spec}}{unit}"


def _verdict(data: dict[str, Any]) -> str | None:
    """A stage's own pass/fail, in whichever of the usual spellings it wrote it."""
    for key in ("verdict", "gate", "status", "passed", "slo_passed"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("verdict", value.get("passed", value.get("status")))
        if isinstance(value, bool):
            return "pass" if value else "fail"
        if isinstance(value, str):
            return value.lower()
    return None


def _status(verdict: str | None) -> str:
    if verdict is None:
        return "info"
    return "ok" if verdict in {"pass", "passed", "ok", "promoted", "success"} else "failed"


def plan_section(build: Path) -> Section:
    section = Section("plan", "Infrastructure plan", "make plan")
    plans = sorted((build / "plan").glob("*.json"))
    if not plans:
        section.problem = "`build/plan/<stack>.json` not found"
        return section
    path = plans[0]
    for candidate in plans:  # prefer the default stack
        if candidate.stem == "dev":
            path = candidate
    data, section.problem = _read_json(path)
    if data is None:
        return section
    section.data = data
    md = path.with_suffix(".md")
    section.markdown = md.read_text() if md.exists() else ""
    section.files = [path, md]
    resources = data.get("resources")
    count = len(resources) if isinstance(resources, list) else data.get("resource_count")
    policies = data.get("policies")
    violations = data.get("violations")
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    stack = data.get("stack", path.stem)
    section.headline = f"stack `{stack}`: {_fmt(count, 'd')} resources"
    if isinstance(policies, list):
        section.headline += f", {len(policies)} policies"
    if isinstance(violations, list):
        section.headline += f", {len(violations)} violation(s)"
    gpu_max = summary.get("gpu_monthly_usd_max")
    if isinstance(gpu_max, int | float):
        section.headline += f"; GPU pools up to {gpu_max:,.0f} USD/month"
    if isinstance(summary.get("passed"), bool):
        section.status = "ok" if summary["passed"] else "failed"
    elif isinstance(violations, list):
        section.status = "ok" if not violations else "failed"
    else:
        section.status = _status(_verdict(data))
    return section


def eval_section(build: Path) -> Section:
    section = Section("eval", "Quality (evals)", "make eval")
    compare, _ = _read_json(build / "eval" / "compare.json")
    summary, problem = _read_json(build / "eval" / "summary.json")
    data = compare or summary
    if data is None:
        section.problem = problem
        return section
    section.data = {"summary": summary, "compare": compare}
    parts = []
    for name in ("compare.md", "report.md"):
        path = build / "eval" / name
        if path.exists() and (name == "report.md" or compare is not None):
            parts.append(path.read_text())
            section.files.append(path)
    section.markdown = "\n\n".join(parts)
    verdict = _verdict(compare) if compare else _verdict(summary or {})
    section.status = _status(verdict)
    scores = []
    if summary is not None:
        try:
            metrics = EvalSummary.read(summary, "eval summary").metrics
        except ContractError as error:
            section.problem, section.status = str(error), "failed"
            metrics = {}
            scores.append(str(error))
        for name, value in sorted(metrics.items())[:4]:
            scores.append(f"{name} {_fmt(value.mean, '.3f')}")
    head = "; ".join(scores) if scores else "scores not reported"
    section.headline = head + (f"; base vs head: **{verdict}**" if compare and verdict else "")
    return section


def load_section(build: Path) -> Section:
    section = Section("load", "Latency and throughput (load test)", "make load")
    data, section.problem = _read_json(build / "load" / "summary.json")
    if data is None:
        return section
    section.data = data
    md = build / "load" / "report.md"
    section.markdown = md.read_text() if md.exists() else ""
    section.files = [build / "load" / "summary.json", md]
    section.status = _status(_verdict(data))
    try:
        load = LoadSummary.read(data, "load summary")
    except ContractError as error:
        section.problem = section.headline = str(error)
        section.status = "failed"
        return section
    section.headline = (
        f"TTFT p95 {_fmt(load.p95_ms('ttft'), '.0f', ' ms')}, "
        f"ITL p95 {_fmt(load.p95_ms('itl'), '.1f', ' ms')}, "
        f"throughput {_fmt(load.output_tokens_per_s, '.0f', ' tok/s')}, "
        f"errors {_fmt(load.error_rate, '.1%')}, {load.requests} requests"
    )
    return section


def cost_section(build: Path) -> Section:
    section = Section("cost", "Cost", "make cost")
    data, section.problem = _read_json(build / "cost" / "summary.json")
    if data is None:
        return section
    section.data = data
    md = build / "cost" / "report.md"
    section.markdown = md.read_text() if md.exists() else ""
    section.files = [build / "cost" / "summary.json", md]
    section.status = _status(_verdict(data))
    cost = data.get("cost") if isinstance(data.get("cost"), dict) else data
    low, high = _num(cost.get("monthly_min")), _num(cost.get("monthly_max"))
    if low is not None and high is not None:
        monthly = f"{low:,.0f}-{high:,.0f} USD/month (min-max nodes)"
    else:
        single = _find_number(data, ("monthly_usd", "monthly_cost_usd", "total_monthly_usd"))
        monthly = f"{single:,.0f} USD/month" if single is not None else "monthly cost not reported"
    tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
    rows = [r for r in tokens.get("pools", []) if isinstance(r, dict)]
    per_m = (
        _num(rows[0].get("usd_per_million_output_tokens"))
        if rows
        else _find_number(data, ("usd_per_million_output_tokens", "usd_per_million_tokens"))
    )
    # Not measured on the pool's GPU (cost/tokens.py): the roofline bound, said to be one.
    roofline = rows[0].get("roofline") if rows and isinstance(rows[0].get("roofline"), dict) else {}
    bound = _num(roofline.get("usd_per_million_output_tokens"))
    if per_m is not None:
        where = " (throughput measured on CPU)" if tokens.get("measured_on_cpu") else ""
        per_m_text = f"{per_m:,.2f} USD per million output tokens{where}"
    elif bound is not None:
        per_m_text = (
            f"at least {bound:,.3f} USD per million output tokens on {rows[0].get('gpu_type')} "
            "(roofline bound; not measured on that GPU)"
        )
    else:
        per_m_text = "USD per million tokens not reported"
    change = data.get("diff") if isinstance(data.get("diff"), dict) else {}
    delta = _num(change.get("monthly_max_delta"))
    section.headline = f"{monthly}; {per_m_text}" + (
        f"; {delta:+,.0f} USD/month at max vs base" if delta is not None else ""
    )
    return section


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _find_number(data: Any, names: tuple[str, ...], depth: int = 0) -> float | None:
    """First number under one of `names`, searching nested objects (summaries nest totals)."""
    if not isinstance(data, dict) or depth > 3:
        return None
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    for value in data.values():
        found = _find_number(value, names, depth + 1)
        if found is not None:
            return found
    return None


def canary_section(build: Path) -> Section:
    section = Section("canary", "Canary", "make canary")
    data, section.problem = _read_json(build / "canary" / "decision.json")
    if data is None:
        return section
    section.data = data
    md = build / "canary" / "decision.md"
    section.markdown = md.read_text() if md.exists() else ""
    section.files = [build / "canary" / "decision.json", md]
    verdict = str(data.get("verdict", "unknown"))
    section.status = "ok" if verdict == "promoted" else "failed"
    section.headline = (
        f"**{verdict.replace('_', ' ')}**: {data.get('reason', 'no reason recorded')}"
    )
    return section


def collect(build: Path) -> list[Section]:
    return [
        plan_section(build),
        eval_section(build),
        load_section(build),
        cost_section(build),
        canary_section(build),
    ]
