"""Base versus head on the same cases: per-metric paired deltas, bootstrap intervals, flips.

Cases pair by dataset/id and only when their content (input and expected output) is identical,
so an edited case is never compared with its old self; unpaired cases are listed, not scored.
"""

from __future__ import annotations

import statistics
from typing import Any

from evals.stats import paired_bootstrap

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


def compare(
    base: dict[str, Any], head: dict[str, Any], confidence: float, resamples: int, seed: int
) -> dict[str, Any]:
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
        delta, low, high = paired_bootstrap(base_scores, head_scores, confidence, resamples, seed)
        entry.update(
            base=round(statistics.fmean(base_scores), 6),
            head=round(statistics.fmean(head_scores), 6),
            delta=round(delta, 6),
            ci_low=round(low, 6),
            ci_high=round(high, 6),
            n=len(pairs),
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
        "confidence": confidence,
        "bootstrap": {"resamples": resamples, "seed": seed},
        "metrics": metrics,
        "flipped": {"regressions": regressions, "improvements": improvements},
    }
