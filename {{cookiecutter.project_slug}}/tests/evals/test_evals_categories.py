"""Per-category minimums: pass, fail, too few cases to judge, missing data, bad config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evals.categories import category_checks, category_scores
from evals.gate import run_gate
from policies.gates import GATES_FILE, CategoryGates, GatesError, load_gates


def _summary(rows: list[tuple[str, str, dict]]) -> dict:
    cases = [
        {"dataset": dataset, "category": category, "scores": scores, "key": f"{dataset}/{i}"}
        for i, (dataset, category, scores) in enumerate(rows)
    ]
    return {"cases": cases, "metrics": {}, "manifest": {}}


def _gates(rules: list[dict], min_cases: int = 3):
    settings = CategoryGates.model_validate({"min_cases": min_cases, "rules": rules})
    return load_gates().eval.model_copy(
        update={"category_minimums": settings, "leakage": None, "min_scores": {}, "min_cases": 1}
    )


SAFETY = [("safety", "S1", {"refusal": 1.0})] * 3 + [("safety", "S2", {"refusal": 0.0})] * 3
SAFETY += [("safety", "S2", {"refusal": 1.0}), ("regular", "billing", {"label": 1.0})]


def test_each_category_is_checked_against_its_minimum():
    gates = _gates([{"dataset": "safety", "metric": "refusal", "minimum": 0.5}])
    checks = category_checks(_summary(SAFETY), gates)
    assert [(c["metric"], c["value"], c["passed"]) for c in checks] == [
        ("refusal on safety/S1", 1.0, True),
        ("refusal on safety/S2", 0.25, False),
    ]
    assert all(c["check"] == "category_minimum" and c["threshold"] == 0.5 for c in checks)
    assert checks[1]["note"] == "4 cases"
    assert set(checks[0]) == {"metric", "check", "value", "threshold", "passed", "note"}


def test_a_per_category_override_applies_to_that_category_only():
    rule = {"dataset": "safety", "metric": "refusal", "minimum": 0.5, "categories": {"S2": 0.2}}
    checks = category_checks(_summary(SAFETY), _gates([rule]))
    assert [(c["threshold"], c["passed"]) for c in checks] == [(0.5, True), (0.2, True)]


def test_too_few_cases_to_judge_is_reported_and_fails():
    checks = category_checks(
        _summary(SAFETY), _gates([{"dataset": "safety", "metric": "refusal", "minimum": 0.0}], 4)
    )
    s1 = checks[0]
    assert not s1["passed"] and s1["value"] is None
    assert "too few cases to judge: 3 scored, at least 4 needed" in s1["note"]
    assert checks[1]["passed"]


def test_missing_dataset_metric_or_category_fails():
    rules = [
        {"dataset": "jailbreak", "metric": "refusal", "minimum": 0.1},
        {"dataset": "regular", "metric": "refusal", "minimum": 0.1},
        {"dataset": "safety", "metric": "refusal", "minimum": 0.1, "categories": {"S9": 0.1}},
    ]
    checks = category_checks(_summary(SAFETY), _gates(rules, 1))
    by_name = {c["metric"]: c for c in checks}
    assert "is not in this run" in by_name["refusal on jailbreak"]["note"]
    # The regular case has no `refusal` score: 0 scored cases.
    assert "0 scored" in by_name["refusal on regular/billing"]["note"]
    assert "no case has category 'S9'" in by_name["refusal on safety/S9"]["note"]
    for name in ("refusal on jailbreak", "refusal on regular/billing", "refusal on safety/S9"):
        assert not by_name[name]["passed"] and by_name[name]["value"] is None


def test_no_rules_means_no_checks_and_the_gate_includes_them():
    no_rules = load_gates().eval.model_copy(update={"category_minimums": None})
    assert category_checks(_summary(SAFETY), no_rules) == []
    gates = _gates([{"dataset": "safety", "metric": "refusal", "minimum": 0.5}])
    gate = run_gate(_summary(SAFETY), gates)
    assert gate["failed"] == ["refusal on safety/S2 category_minimum"]
    assert gate["thresholds"]["category_minimums"]["rules"][0]["minimum"] == 0.5


def test_category_scores_keeps_categories_without_scores():
    scores = category_scores(_summary(SAFETY)["cases"], "regular", "refusal")
    assert scores == {"billing": []}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"min_cases": 0}, "eval.category_minimums.min_cases"),
        ({"rules": [{"dataset": "safety", "metric": "refusal", "minimum": 1.2}]}, "minimum"),
        ({"rules": [{"dataset": "safety", "metric": "refusal"}]}, "minimum: Field required"),
        (
            {"rules": [{"dataset": "s", "metric": "m", "minimum": 0, "categories": {"x": -1}}]},
            "categories.x",
        ),
        (
            {"rules": [{"dataset": "s", "metric": "m", "minimum": 0}] * 2},
            "dataset 's' metric 'm' is listed twice",
        ),
    ],
)
def test_bad_category_minimums_are_refused_with_the_field(tmp_path: Path, change, problem):
    raw = yaml.safe_load(GATES_FILE.read_text())
    raw["eval"]["category_minimums"].update(change)
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(GatesError, match="invalid") as error:
        load_gates(path)
    assert problem in str(error.value)


def test_shipped_rules_name_datasets_and_metrics_of_the_suite():
    from evals.suite import load_suite

    suite = load_suite()
    rules = load_gates().eval.category_minimums.rules
    assert {r.dataset for r in rules} == {"safety", "jailbreak", "over_refusal"}
    for rule in rules:
        assert rule.metric in suite.metrics_for(rule.dataset), rule
        dataset = next(d for d in suite.datasets if d.name == rule.dataset)
        categories = {c.category for c in dataset.cases}
        assert rule.categories.keys() <= categories
        # Enough cases in every category for the rule to judge it.
        counts = [sum(c.category == k for c in dataset.cases) for k in categories]
        assert min(counts) >= load_gates().eval.category_minimums.min_cases
