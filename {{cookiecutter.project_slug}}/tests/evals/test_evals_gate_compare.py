"""Paired intervals, the eval gate (pass and each way to fail), comparison and its Markdown."""

from __future__ import annotations

import copy

from evals.cache import ResponseCache, cache_key
from evals.compare import compare
from evals.gate import compare_gate, run_gate
from evals.report import COMPARE_MARKER, compare_report, run_report
from evals.stats import detectable, outcome, paired_binary_interval, paired_bootstrap
from policies.gates import EvalGates, load_gates

GATES = EvalGates(
    min_scores={"label_accuracy": 0.6, "refusal": 0.5},
    max_regression=0.05,
    confidence=0.95,
    min_cases=4,
    min_cases_per_metric=3,
)


def summary(labels: list[float], refusals: list[float], version: str = "1") -> dict:
    cases = []
    for i, value in enumerate(labels):
        cases.append(_case("regular", f"r{i}", {"label_accuracy": value, "latency": 1.0}))
    for i, value in enumerate(refusals):
        cases.append(_case("safety", f"s{i}", {"refusal": value}))
    metrics = {}
    for name, gated in (("label_accuracy", True), ("refusal", True), ("latency", False)):
        values = [c["scores"][name] for c in cases if name in c["scores"]]
        if values:
            metrics[name] = {"mean": sum(values) / len(values), "n": len(values), "gated": gated}
    manifest = {
        "git_sha": "abc",
        "model": {"served_model_name": "m", "model_version": version, "endpoint": "http://x/v1"},
        "prompt": {"name": "p", "version": 1, "sha256": "f" * 64},
        "datasets": {"regular": {"sha256": "a" * 64, "version": 1, "cases": len(labels)}},
        "decoding": {"temperature": 0.0},
    }
    return {
        "manifest": manifest,
        "metrics": metrics,
        "skipped_metrics": {},
        "cases": cases,
        "run": {"cases": len(cases), "cached": 0, "cache": "on", "concurrency": 1, "seconds": 1.0},
        "latency_ms": {"p50": 1.0, "p95": 2.0, "max": 2.0},
    }


def _case(dataset: str, case_id: str, scores: dict) -> dict:
    ok = all(v >= 0.5 for v in scores.values())
    return {
        "key": f"{dataset}/{case_id}",
        "dataset": dataset,
        "id": case_id,
        "category": dataset,
        "input_sha256": case_id,
        "input": f"text {case_id}",
        "expected": "intent: billing",
        "output": "intent: billing" if ok else "intent: refund",
        "latency_ms": 1.0,
        "scores": scores,
    }


def test_bootstrap_is_seeded_and_brackets_the_mean():
    base = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    head = [1, 1, 1, 1, 0, 1, 0, 1, 1, 1]
    first = paired_bootstrap(base, head, 0.95, 1000, seed=3)
    assert first == paired_bootstrap(base, head, 0.95, 1000, seed=3)
    mean, low, high = first
    assert low <= mean <= high and abs(mean - 0.1) < 1e-9
    assert paired_bootstrap(base, base, 0.95, 1000, seed=3) == (0.0, 0.0, 0.0)


def test_run_gate_passes_and_reports_thresholds():
    result = run_gate(summary([1, 1, 1, 0], [1, 1]), GATES)
    assert result["passed"] and result["verdict"] == "pass"
    assert result["thresholds"]["min_scores"] == {"label_accuracy": 0.6, "refusal": 0.5}
    assert "Thresholds (policies/gates.yaml)" in run_report({**summary([1], [1]), "gate": result})


def test_run_gate_fails_below_a_minimum_and_with_too_few_cases():
    low = run_gate(summary([1, 0, 0, 0], [1, 1]), GATES)
    assert not low["passed"] and low["failed"] == ["label_accuracy min_score"]
    few = run_gate(summary([1], [1]), GATES)
    assert few["failed"] == ["cases min_cases"]


def test_a_required_metric_that_was_skipped_fails_the_gate():
    gates = GATES.model_copy(update={"min_scores": {"answer_quality": 0.5}})
    data = summary([1, 1, 1, 1], [1])
    data["skipped_metrics"] = {"answer_quality": "skipped: no judge endpoint configured"}
    result = run_gate(data, gates)
    assert not result["passed"]
    assert "no judge endpoint" in result["checks"][-1]["note"]
    report = run_report({**data, "gate": result})
    assert "no judge endpoint configured" in report and "FAIL" in report


def test_same_model_compares_equal_and_passes():
    base = summary([1, 1, 0, 1, 1, 1], [1, 1, 1])
    result = compare(base, copy.deepcopy(base), GATES, 500, 1)
    assert result["paired_cases"] == 9 and not result["unpaired_cases"]
    assert result["metrics"]["label_accuracy"]["delta"] == 0
    assert result["flipped"] == {"regressions": [], "improvements": []}
    assert compare_gate(result, base, GATES)["passed"]


def test_a_regression_is_flipped_and_fails_non_inferiority():
    base = summary([1] * 10, [1, 1, 1])
    head = summary([1, 1, 1, 1, 1, 1, 0, 0, 0, 1], [1, 1, 1], version="2")
    result = compare(base, head, GATES, 1000, 1)
    label = result["metrics"]["label_accuracy"]
    # 3 losses in 10 cases: clearly not non-inferior, yet too few to prove a regression.
    assert label["delta"] == -0.3 and label["ci_low"] < -0.5
    assert label["method"] == "tango" and label["outcome"] == "inconclusive"
    assert (label["regressed"], label["improved"]) == (3, 0)
    assert [f["key"] for f in result["flipped"]["regressions"]] == [
        "regular/r6",
        "regular/r7",
        "regular/r8",
    ]
    gate = compare_gate(result, head, GATES)
    assert not gate["passed"] and "label_accuracy non_inferiority" in gate["failed"]
    markdown = compare_report({"comparison": result, "gate": gate, "skipped_metrics": {}})
    assert markdown.startswith(COMPARE_MARKER) and "FAIL" in markdown
    assert "| label_accuracy | 1.000 | 0.700 | -0.300 |" in markdown
    assert "Regressions (passed on base, fail on head): 3" in markdown
    assert "regular/r6" in markdown and "non-inferiority margin 0.05" in markdown


def test_paired_binary_interval():
    # Mirror image: swapping improvements and regressions negates the interval.
    delta, low, high = paired_binary_interval(10, 2, 200, 0.95)
    assert (delta, round(low, 4), round(high, 4)) == (0.04, 0.0072, 0.0811)
    mirror = paired_binary_interval(2, 10, 200, 0.95)
    assert mirror[0] == -0.04 and abs(mirror[1] + high) < 1e-9 and abs(mirror[2] + low) < 1e-9
    # 9 losses and no gains in 200: the exact conditional bound would be -0.045 (a pass).
    assert round(paired_binary_interval(0, 9, 200, 0.95)[1], 3) == -0.083
    assert paired_binary_interval(0, 0, 63, 0.95) == (0.0, 0.0, 0.0)  # nothing changed
    assert paired_binary_interval(0, 200, 200, 0.95)[1] == -1.0
    wider = paired_binary_interval(10, 2, 200, 0.99)
    assert wider[1] < low and wider[2] > high


def test_outcome_and_detectable_effect():
    assert outcome(200, -0.04, 0.03, 0.05, 50) == "non_inferior"
    assert outcome(200, -0.08, 0.01, 0.05, 50) == "inconclusive"  # straddles -0.05
    assert outcome(40, 0.10, 0.30, 0.05, 50) == "inconclusive"  # too few cases
    assert outcome(200, -0.20, -0.09, 0.05, 50) == "regressed"
    # The README table: cases a margin needs when 10 % of answers change, 80 % power.
    needed = [detectable(0.10, 100, 0.95, 0.8, m, True)[1] for m in (0.05, 0.10, 0.15)]
    assert needed == [350, 104, 54]
    mde, _ = detectable(0.10, 350, 0.95, 0.8, 0.05, True)
    assert abs(mde - 0.05) < 0.001


def test_a_clear_regression_is_regressed_and_named_in_the_gate():
    base = summary([1] * 100, [1] * 60)
    head = summary([0] * 30 + [1] * 70, [1] * 60, version="2")
    result = compare(base, head, GATES, 200, 1)
    label = result["metrics"]["label_accuracy"]
    assert label["outcome"] == "regressed" and label["ci_high"] < -0.05
    assert result["metrics"]["refusal"]["outcome"] == "non_inferior"
    gate = compare_gate(result, head, GATES)
    note = next(
        c["note"]
        for c in gate["checks"]
        if c["metric"] == "label_accuracy" and c["check"] == "non_inferiority"
    )
    assert note.startswith("regressed: n=100, delta -0.300, 95% CI [")


def test_inconclusive_fails_the_gate_with_n_interval_and_cases_needed():
    gates = GATES.model_copy(update={"min_cases_per_metric": 50})
    # Label: 200 cases, 15 lost and 15 gained: equal accuracy, interval straddles -0.05.
    labels_base = [1] * 15 + [0] * 15 + [1] * 170
    labels_head = [0] * 15 + [1] * 15 + [1] * 170
    # Refusal: 30 cases, a clear improvement, but fewer than 50 for this metric.
    base = summary(labels_base, [0] * 30)
    head = summary(labels_head, [1] * 30, version="2")
    result = compare(base, head, gates, 200, 1)
    assert result["metrics"]["label_accuracy"]["outcome"] == "inconclusive"
    assert result["metrics"]["refusal"]["outcome"] == "inconclusive"
    gate = compare_gate(result, head, gates)
    assert not gate["passed"]
    assert {"label_accuracy non_inferiority", "refusal non_inferiority"} <= set(gate["failed"])
    notes = {c["metric"]: c["note"] for c in gate["checks"] if c["check"] == "non_inferiority"}
    assert notes["label_accuracy"].startswith("inconclusive: n=200, delta +0.000, 95% CI [-0.")
    assert "straddles -0.05" in notes["label_accuracy"]
    assert "needs ~" in notes["label_accuracy"] and "(observed spread)" in notes["label_accuracy"]
    assert "fewer than 50 cases for this metric" in notes["refusal"]
    markdown = compare_report({"comparison": result, "gate": gate, "skipped_metrics": {}})
    assert "| label_accuracy | 0.925 | 0.925 | +0.000 |" in markdown
    assert "| 200 | 15 / 15 | inconclusive |" in markdown and "detects" in markdown


def test_fractional_scores_use_the_bootstrap():
    base = summary([1, 1, 1, 1], [1])
    head = copy.deepcopy(base)
    for case, value in zip(head["cases"][:4], (0.5, 1.0, 0.75, 1.0), strict=True):
        case["scores"]["label_accuracy"] = value
    label = compare(base, head, GATES, 200, 1)["metrics"]["label_accuracy"]
    assert label["method"] == "bootstrap" and "improved" not in label
    assert label["mde_basis"] == "observed spread" and label["mde"] > 0
    same = compare(base, base, GATES, 200, 1)["metrics"]["label_accuracy"]
    assert same["outcome"] == "non_inferior" and same["mde_basis"] == "assumed 10% changed"


def test_an_edited_case_is_not_paired():
    base = summary([1, 1, 1, 1, 1], [1])
    head = copy.deepcopy(base)
    head["cases"][0]["input_sha256"] = "edited"
    result = compare(base, head, GATES, 200, 1)
    assert result["unpaired_cases"] == ["regular/r0"] and result["paired_cases"] == 5


def test_a_metric_missing_on_head_fails():
    base = summary([1, 1, 1, 1], [1, 1])
    head = summary([1, 1, 1, 1], [])
    result = compare(base, head, GATES, 200, 1)
    assert "missing" in result["metrics"]["refusal"]
    gate = compare_gate(result, head, GATES)
    assert "refusal non_inferiority" in gate["failed"] and "refusal min_score" in gate["failed"]


def test_project_gates_load():
    assert 0 < load_gates().eval.max_regression < 1


def test_cache_key_covers_every_input(tmp_path):
    model = {
        "served_model_name": "m",
        "model_version": "1",
        "model_digest": "sha256:a",
        "model_root": "/r1",
        "vllm_version": "0.32.0",
        "serving_args": ["--seed", "0"],
    }
    parts = (model, "p" * 64, "regular/a", "c" * 64, {"temperature": 0.0, "seed": 1})
    key = cache_key(*parts)
    assert key == cache_key(*parts)
    others = ("q" * 64, "regular/b", "d" * 64, {"seed": 2})
    for index, other in enumerate(others, start=1):
        changed = list(parts)
        changed[index] = other
        assert cache_key(*changed) != key, index
    for field, other in (
        ("model_digest", "sha256:b"),
        ("vllm_version", "0.33.0"),
        ("serving_args", ["--seed", "1"]),
        ("model_root", "/r2"),
    ):
        assert cache_key({**model, field: other}, *parts[1:]) != key, field
    cache = ResponseCache(tmp_path)
    assert cache.get(key) is None
    cache.put(key, {"completion": {"output": "x"}})
    assert cache.path(key) == tmp_path / key[:2] / f"{key}.json"
    assert cache.get(key) == {"completion": {"output": "x"}}
    cache.path(key).write_text("{torn")
    assert cache.get(key) is None
    off = ResponseCache(tmp_path / "off", enabled=False)
    off.put(key, {"x": 1})
    assert off.get(key) is None and not (tmp_path / "off").exists()
