"""Base versus head on the same cases: per-metric paired deltas, intervals, outcomes, flips.

Cases pair by dataset/id and only when their content (input and expected output) is identical,
so an edited case is never compared with its old self; unpaired cases are listed, not scored.
A metric whose per-case scores are all 0 or 1 gets Tango's score interval from its changed
cases; any other metric the seeded paired bootstrap. Each metric row records its `outcome`
(`non_inferior`, `inconclusive` or `regressed`, see evals/stats.py) and how small a regression
its cases can detect (`mde`, `cases_needed` for the margin).
"""

from __future__ import annotations

import statistics
from typing import Any

from evals.stats import (
    PLANNING_DISCORDANCE,
    detectable,
    outcome,
    paired_binary_interval,
    paired_bootstrap,
)
from policies.gates import EvalGates

# A per-case score at or above this counts as a pass when listing flipped cases.
PASS_SCORE = 0.5


def _side(summary: dict[str, Any]) -> dict[str, Any]:
    manifest = summary["manifest"]
    return {
        "model": manifest["model"],
        "prompt": manifest["prompt"],
        "datasets": {k: v["sha256"] for k, v in manifest["datasets"].items()},
        "git_sha": manifest["git_sha"],
    }


def _interval(
    base_scores: list[float], head_scores: list[float], gates: EvalGates, resamples: int, seed: int
) -> dict[str, Any]:
    """The paired interval, the outcome and the detectable effect for one metric."""
    n, confidence = len(base_scores), gates.confidence
    binary = all(s in (0, 1) for s in (*base_scores, *head_scores))
    if binary:
        improved = sum(1 for b, h in zip(base_scores, head_scores, strict=True) if h > b)
        regressed = sum(1 for b, h in zip(base_scores, head_scores, strict=True) if h < b)
        delta, low, high = paired_binary_interval(improved, regressed, n, confidence)
        spread = (improved + regressed) / n
        extra: dict[str, Any] = {"method": "tango", "improved": improved, "regressed": regressed}
    else:
        delta, low, high = paired_bootstrap(base_scores, head_scores, confidence, resamples, seed)
        diffs = [h - b for b, h in zip(base_scores, head_scores, strict=True)]
        spread = statistics.pvariance(diffs)
        extra = {"method": "bootstrap"}
    # Nothing changed: the set says nothing about spread, so plan with the stated assumption.
    basis = "observed spread" if spread > 0 else f"assumed {PLANNING_DISCORDANCE:.0%} changed"
    mde, needed = detectable(
        spread or PLANNING_DISCORDANCE, n, confidence, gates.power, gates.max_regression, binary
    )
    return {
        "delta": round(delta, 6),
        "ci_low": round(low, 6),
        "ci_high": round(high, 6),
        "outcome": outcome(n, low, high, gates.max_regression, gates.min_cases_per_metric),
        **extra,
        "mde": round(mde, 4),
        "cases_needed": needed,
        "mde_basis": basis,
    }


class JudgeMismatchError(ValueError):
    """Base and head were scored by different judges or judge steps: not comparable."""


def check_same_judge(base: dict[str, Any], head: dict[str, Any]) -> None:
    """Judge (and guard) scores compare only under one judge and one set of evaluation steps. A
    side with no judge is not refused here: its judge metrics are missing, which fails the gate."""
    for role in ("judge", "guard"):
        _same_scorer(base["manifest"].get(role), head["manifest"].get(role))


def _same_scorer(b: dict[str, Any] | None, h: dict[str, Any] | None) -> None:
    if not b or not h:
        return
    if b.get("identity_sha256") != h.get("identity_sha256"):
        raise JudgeMismatchError(
            f"base was scored by judge {b['model']!r} version {b.get('model_version')!r}, head by "
            f"{h['model']!r} version {h.get('model_version')!r} (or with other judge decoding): "
            "judge scores are comparable only under one judge; score both with the same "
            "JUDGE_ENDPOINT and JUDGE_MODEL"
        )
    b_steps, h_steps = b.get("steps_sha256", {}), h.get("steps_sha256", {})
    changed = sorted(n for n in b_steps.keys() & h_steps.keys() if b_steps[n] != h_steps[n])
    if changed:
        raise JudgeMismatchError(
            f"judge metric(s) {', '.join(changed)} have different evaluation steps on base and "
            "head: a changed rubric is a new metric; score base again with head's suite.yaml"
        )


def compare(
    base: dict[str, Any], head: dict[str, Any], gates: EvalGates, resamples: int, seed: int
) -> dict[str, Any]:
    check_same_judge(base, head)
    base_cases = {c["key"]: c for c in base["cases"]}
    head_cases = {c["key"]: c for c in head["cases"]}
    paired = sorted(
        k
        for k in base_cases.keys() & head_cases.keys()
        if base_cases[k]["input_sha256"] == head_cases[k]["input_sha256"]
    )
    unpaired = sorted((base_cases.keys() | head_cases.keys()) - set(paired))
    metrics: dict[str, Any] = {}
    for name in sorted(base["metrics"].keys() | head["metrics"].keys()):
        info = head["metrics"].get(name) or base["metrics"][name]
        entry: dict[str, Any] = {"gated": bool(info.get("gated", True))}
        pairs = [
            (base_cases[k]["scores"][name], head_cases[k]["scores"][name])
            for k in paired
            if name in base_cases[k]["scores"] and name in head_cases[k]["scores"]
        ]
        if not pairs:
            side = "head" if name not in head["metrics"] else "base"
            reason = {**base.get("skipped_metrics", {}), **head.get("skipped_metrics", {})}.get(
                name, f"not measured on {side}"
            )
            entry["missing"] = f"no paired scores ({reason})"
            metrics[name] = entry
            continue
        base_scores = [b for b, _ in pairs]
        head_scores = [h for _, h in pairs]
        entry.update(
            base=round(statistics.fmean(base_scores), 6),
            head=round(statistics.fmean(head_scores), 6),
            n=len(pairs),
            **_interval(base_scores, head_scores, gates, resamples, seed),
        )
        metrics[name] = entry
    regressions, improvements = [], []
    for key in paired:
        b, h = base_cases[key], head_cases[key]
        for name in sorted(b["scores"].keys() & h["scores"].keys()):
            if not metrics.get(name, {}).get("gated"):
                continue
            was, now = b["scores"][name] >= PASS_SCORE, h["scores"][name] >= PASS_SCORE
            if was == now:
                continue
            flip = {
                "key": key,
                "metric": name,
                "category": h["category"],
                "input": h["input"],
                "expected": h["expected"],
                "base_output": b["output"],
                "head_output": h["output"],
            }
            (regressions if was else improvements).append(flip)
    return {
        "base": _side(base),
        "head": _side(head),
        "paired_cases": len(paired),
        "unpaired_cases": unpaired,
        "confidence": gates.confidence,
        "margin": gates.max_regression,
        "power": gates.power,
        "min_cases_per_metric": gates.min_cases_per_metric,
        "bootstrap": {"resamples": resamples, "seed": seed},
        "metrics": metrics,
        "flipped": {"regressions": regressions, "improvements": improvements},
    }
