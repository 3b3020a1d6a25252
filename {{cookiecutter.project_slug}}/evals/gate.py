"""The eval release gate, with thresholds from policies/gates.yaml (`eval` section).

- one run (`make eval`): enough cases, and every metric at or above its absolute minimum;
- base versus head (`make eval-compare`): the same on head, plus non-inferiority on every gated
  metric: its outcome (evals/stats.py) must be `non_inferior`, i.e. at least
  `min_cases_per_metric` paired cases and a confidence interval whose lower bound is at or
  above `-max_regression`. `regressed` fails, and so does `inconclusive` (too few cases, or an
  interval that straddles the margin): no evidence of non-inferiority is never a pass.
A metric the gates require that was not measured (for example a skipped judge metric) fails the
gate, and so does a judge metric the judge could not score on enough cases: a missing number is
never a pass. Every verdict lists the thresholds it applied.
"""

from __future__ import annotations

from typing import Any

from evals.categories import category_checks
from evals.checks import check as _check
from evals.leakage import leakage_checks
from evals.stats import outcome
from policies.gates import EvalGates


def _absolute(metrics: dict[str, Any], skipped: dict[str, str], gates: EvalGates) -> list[dict]:
    checks = []
    for name, minimum in sorted(gates.min_scores.items()):
        measured = metrics.get(name)
        if measured is None:
            reason = skipped.get(name, "not measured by this suite")
            checks.append(_check(name, "min_score", None, minimum, False, reason))
        elif measured["mean"] is None:
            checks.append(_check(name, "min_score", None, minimum, False, "no case was scored"))
        else:
            mean = measured["mean"]
            checks.append(_check(name, "min_score", mean, minimum, mean >= minimum))
    return checks


def _judged(metrics: dict[str, Any], gates: EvalGates) -> list[dict]:
    """Judge metrics: enough cases scored, and few enough the judge failed on (inconclusive
    otherwise: an unscored case is never counted as a pass)."""
    checks = []
    for name, m in sorted(metrics.items()):
        if not m.get("judge"):
            continue
        scored, failed = m["n"], m.get("not_scored", 0)
        share = failed / (scored + failed) if scored + failed else 1.0
        passed = scored >= gates.min_cases_per_metric and share <= gates.max_unscored_share
        note = f"{scored} scored, {failed} not scored by the judge"
        if not passed:
            note = (
                f"inconclusive: {note} (needs {gates.min_cases_per_metric} scored and at most "
                f"{gates.max_unscored_share:.0%} not scored); see the cases' judge_errors"
            )
        checks.append(
            _check(name, "judge_scored", scored, gates.min_cases_per_metric, passed, note)
        )
    return checks


def _verdict(checks: list[dict], gates: EvalGates) -> dict[str, Any]:
    failed = [c for c in checks if not c["passed"]]
    return {
        "passed": not failed,
        "verdict": "pass" if not failed else "fail",
        "failed": [f"{c['metric']} {c['check']}" for c in failed],
        "checks": checks,
        "thresholds": gates.model_dump(),
    }


def run_gate(summary: dict[str, Any], gates: EvalGates) -> dict[str, Any]:
    cases = len(summary["cases"])
    checks = [_check("cases", "min_cases", cases, gates.min_cases, cases >= gates.min_cases)]
    checks += _absolute(summary["metrics"], summary.get("skipped_metrics", {}), gates)
    checks += _judged(summary["metrics"], gates)
    checks += leakage_checks(summary.get("manifest", {}).get("leakage"), gates)
    checks += category_checks(summary, gates)
    return _verdict(checks, gates)


def compare_gate(comparison: dict[str, Any], head: dict[str, Any], gates: EvalGates) -> dict:
    paired = comparison["paired_cases"]
    checks = [_check("cases", "min_cases", paired, gates.min_cases, paired >= gates.min_cases)]
    checks += _absolute(head["metrics"], head.get("skipped_metrics", {}), gates)
    checks += _judged(head["metrics"], gates)
    checks += leakage_checks(head.get("manifest", {}).get("leakage"), gates)
    checks += category_checks(head, gates)
    for name, delta in sorted(comparison["metrics"].items()):
        if not delta["gated"]:
            continue
        if delta.get("missing"):
            checks.append(
                _check(
                    name, "non_inferiority", None, -gates.max_regression, False, delta["missing"]
                )
            )
            continue
        checks.append(_non_inferiority(name, delta, gates))
    return _verdict(checks, gates)


def _non_inferiority(name: str, row: dict[str, Any], gates: EvalGates) -> dict:
    margin, low, high, n = gates.max_regression, row["ci_low"], row["ci_high"], row["n"]
    # Recomputed from the row's numbers (the same rule compare.py records), so the verdict
    # follows the gates applied here.
    verdict = outcome(n, low, high, margin, gates.min_cases_per_metric)
    interval = f"{gates.confidence:.0%} CI [{low:+.3f}, {high:+.3f}]"
    note = f"{verdict}: n={n}, delta {row['delta']:+.3f}, {interval}"
    if verdict != "non_inferior":
        if n < gates.min_cases_per_metric:
            note += f"; fewer than {gates.min_cases_per_metric} cases for this metric"
        elif verdict == "regressed":
            note += f" lies below {-margin:+.2f}"
        else:
            note += f" straddles {-margin:+.2f}"
        if "mde" in row:
            note += (
                f"; these cases detect {row['mde']:.3f} at {gates.power:.0%} power, "
                f"a {margin} margin needs ~{row['cases_needed']} cases ({row['mde_basis']})"
            )
    return _check(name, "non_inferiority", low, -margin, verdict == "non_inferior", note)
