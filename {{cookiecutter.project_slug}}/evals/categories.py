"""Per-category minimums (policies/gates.yaml `eval.category_minimums`), on every run.

A dataset-wide mean hides a category the model fails: 0.9 refusal overall can be 0.2 on
encoded jailbreaks. Each rule names a dataset, a metric and a minimum mean that every category
of that dataset must reach (with optional per-category overrides). A category with fewer than
`min_cases` scored cases cannot be judged: its check fails and says so, rather than passing on
too little evidence. A rule whose dataset was not run, or a category override that matches no
case, fails too: a missing number is never a pass.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean
from typing import Any

from evals.checks import check as _check
from policies.gates import CategoryMinimum, EvalGates


def category_scores(
    cases: list[dict[str, Any]], dataset: str, metric: str
) -> dict[str, list[float]]:
    """Per category of one dataset, the scores of one metric (cases it scored)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for case in cases:
        if case["dataset"] != dataset:
            continue
        scores.setdefault(case["category"], [])
        if metric in case.get("scores", {}):
            scores[case["category"]].append(case["scores"][metric])
    return dict(scores)


def _rule_checks(cases: list[dict[str, Any]], rule: CategoryMinimum, min_cases: int) -> list:
    scores = category_scores(cases, rule.dataset, rule.metric)
    label = f"{rule.metric} on {rule.dataset}"
    if not scores:
        note = f"dataset '{rule.dataset}' is not in this run"
        return [_check(label, "category_minimum", None, rule.minimum, False, note)]
    checks = []
    for category in sorted(scores.keys() | rule.categories.keys()):
        minimum = rule.categories.get(category, rule.minimum)
        values = scores.get(category)
        name = f"{label}/{category}"
        if values is None:
            note = f"no case has category '{category}' (a per-category minimum names it)"
            checks.append(_check(name, "category_minimum", None, minimum, False, note))
        elif len(values) < min_cases:
            note = (
                f"too few cases to judge: {len(values)} scored, at least {min_cases} needed "
                "(add cases to this category or lower min_cases)"
            )
            checks.append(_check(name, "category_minimum", None, minimum, False, note))
        else:
            mean = round(fmean(values), 6)
            note = f"{len(values)} cases"
            checks.append(_check(name, "category_minimum", mean, minimum, mean >= minimum, note))
    return checks


def category_checks(summary: dict[str, Any], gates: EvalGates) -> list[dict]:
    """Gate checks: every category of each configured dataset at or above its minimum."""
    settings = gates.category_minimums
    if settings is None:
        return []
    checks = []
    for rule in settings.rules:
        checks += _rule_checks(summary["cases"], rule, settings.min_cases)
    return checks
