"""The canary state machine: pass, each gate failing, missing data, flapping."""

from __future__ import annotations

import pytest
from canary_evidence import compare, eval_summary, good, load_summary

from policies.gates import load_gates
from release import state as sm
from release.gate import evaluate_step

GATES = load_gates()
STEPS = GATES.canary.steps


def run(evidence_by_weight):
    """Drive the machine with one evidence document per step, as the controller does."""
    canary = sm.start(STEPS)
    while not canary.done:
        canary = sm.advance(canary, evaluate_step(evidence_by_weight(canary.weight), GATES))
    return canary


def test_every_step_passing_promotes():
    canary = run(good)
    assert canary.phase is sm.Phase.PROMOTE
    assert [r.weight for r in canary.history] == STEPS
    assert "all 3 steps passed" in canary.reason


def test_first_failure_rolls_back_and_stops():
    canary = run(
        lambda w: good(w, canary_load=load_summary(ttft=5000)) if w == STEPS[0] else good(w)
    )
    assert canary.phase is sm.Phase.ROLLBACK
    assert canary.weight == 0
    assert len(canary.history) == 1
    assert "load.ttft_p95.slo" in canary.reason and "5000.0 ms" in canary.reason


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"canary_load": load_summary(ttft=2500)}, "load.ttft_p95.slo"),
        ({"canary_load": load_summary(ttft=400)}, "load.ttft_p95.vs_stable"),
        ({"canary_load": load_summary(itl=300)}, "load.itl_p95.slo"),
        ({"canary_load": load_summary(itl=40)}, "load.itl_p95.vs_stable"),
        ({"canary_load": load_summary(error_rate=0.05)}, "load.error_rate.slo"),
        ({"canary_load": load_summary(truncation_rate=0.2)}, "load.truncation_rate"),
        ({"canary_load": load_summary(requests=5)}, "load.canary.samples"),
        ({"stable_load": load_summary(requests=5)}, "load.stable.samples"),
        ({"eval_compare": compare(delta=-0.2, ci_low=-0.3)}, "eval.label_accuracy.non_inferior"),
        ({"eval_compare": compare(head=0.1)}, "eval.label_accuracy.min_score"),
        ({"eval_compare": compare(cases=3)}, "eval.samples"),
        ({"problems": ("the canary server died during the step",)}, "collection"),
    ],
)
def test_each_gate_failing_rolls_back_with_its_reason(change, check):
    canary = run(lambda w: good(w, **change) if w == STEPS[1] else good(w))
    assert canary.phase is sm.Phase.ROLLBACK
    assert [r.weight for r in canary.history] == STEPS[:2]
    failed = [c.name for c in canary.history[-1].checks if not c.passed]
    assert check in failed
    assert canary.reason.startswith(f"step {STEPS[1]}% failed: ")


def test_latency_within_the_noise_floor_passes_whatever_the_ratio():
    floor = GATES.canary.latency_noise_floor_ms
    stable = load_summary(ttft=20.0, itl=2.0)
    # 3x slower, yet by less than the floor: jitter on a fast endpoint, not a regression.
    canary = load_summary(ttft=20.0 + floor["ttft"] - 1, itl=2.0 + floor["itl"] - 1)
    result = evaluate_step(good(10, stable_load=stable, canary_load=canary), GATES)
    assert result.passed, [c.detail for c in result.checks if not c.passed]
    slower = load_summary(ttft=20.0 + floor["ttft"] + 1, itl=2.0 + floor["itl"] + 1)
    result = evaluate_step(good(10, stable_load=stable, canary_load=slower), GATES)
    assert [c.name for c in result.checks if not c.passed] == [
        "load.ttft_p95.vs_stable",
        "load.itl_p95.vs_stable",
    ]


def test_error_rate_relative_to_stable():
    stable = load_summary(error_rate=0.0)
    canary = load_summary(error_rate=0.009)  # under the absolute SLO
    strict = GATES.model_copy(
        update={"canary": GATES.canary.model_copy(update={"max_error_rate_delta": 0.005})}
    )
    result = evaluate_step(good(10, stable_load=stable, canary_load=canary), strict)
    assert [c.name for c in result.checks if not c.passed] == ["load.error_rate.vs_stable"]


def compare_without_rows() -> dict:
    doc = compare()
    doc["comparison"]["metrics"] = {}
    return doc


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ({"canary_load": None}, "missing load-test results for canary"),
        ({"stable_load": None}, "missing load-test results for stable"),
        ({"eval_compare": None}, "missing eval results for stable; refusing to promote"),
        ({"eval_compare": {"comparison": {"metrics": {}}}}, "comparison.paired_cases: Field"),
        ({"eval_compare": compare_without_rows()}, "no per-metric rows"),
        ({"canary_load": {"requests": 40, "error_rate": 0.0}}, "ttft_ms: Field required"),
        (
            {"canary_load": {**load_summary(), "truncation_rate": None}},
            "canary load summary does not match its schema (LoadSummary",
        ),
        (
            {"canary_load": {**load_summary(), "ttft_ms": {"n": 0, "p50": None, "p95": None}}},
            "no TTFT p95",
        ),
    ],
)
def test_missing_or_partial_evidence_never_promotes(missing, reason):
    canary = run(lambda w: good(w, **missing))
    assert canary.phase is sm.Phase.ROLLBACK
    assert reason in canary.reason


def test_fallback_to_two_eval_summaries_when_no_comparison():
    base, worse = eval_summary(label_accuracy=0.9), eval_summary(label_accuracy=0.7)
    ok = evaluate_step(good(10, eval_compare=None, stable_eval=base, canary_eval=base), GATES)
    bad = evaluate_step(good(10, eval_compare=None, stable_eval=base, canary_eval=worse), GATES)
    assert ok.passed
    assert not bad.passed and bad.first_failure.name == "eval.label_accuracy.non_inferior"


def test_flapping_canary_is_not_carried_by_earlier_passes():
    """pass at 10 %, fail at 50 %, would pass again at 100 %: rolled back at 50 %."""
    flaps = {10: good(10), 50: good(50, canary_load=load_summary(error_rate=0.5)), 100: good(100)}
    canary = run(flaps.__getitem__)
    assert canary.phase is sm.Phase.ROLLBACK
    assert [r.passed for r in canary.history] == [True, False]


def test_a_step_must_be_judged_on_its_own_evidence():
    canary = sm.start(STEPS)
    canary = sm.advance(canary, evaluate_step(good(STEPS[0]), GATES))
    with pytest.raises(ValueError, match="its own evidence"):
        sm.advance(canary, evaluate_step(good(STEPS[0]), GATES))  # 10 % evidence again at 50 %


def test_finished_canary_refuses_more_results():
    canary = run(good)
    with pytest.raises(ValueError, match="already finished"):
        sm.advance(canary, evaluate_step(good(100), GATES))


def test_a_step_with_no_checks_does_not_pass():
    from release.gate import StepResult

    canary = sm.advance(sm.start([100]), StepResult(weight=100, checks=()))
    assert canary.phase is sm.Phase.ROLLBACK


@pytest.mark.parametrize("steps", [[], [10, 50], [50, 10, 100], [0, 100]])
def test_bad_step_lists_are_refused(steps):
    with pytest.raises(ValueError, match="end at 100"):
        sm.start(steps)


def test_a_gated_metric_that_was_not_compared_fails_and_ungated_ones_do_not_gate():
    doc = compare()
    doc["comparison"]["metrics"]["refusal"] = {"gated": True, "missing": "no paired scores"}
    doc["comparison"]["metrics"]["latency"]["ci_low"] = -500.0  # ungated: ignored
    result = evaluate_step(good(10, eval_compare=doc), GATES)
    failed = [c for c in result.checks if not c.passed]
    # Not compared, and so not measured for its minimum either.
    assert [c.name for c in failed] == ["eval.refusal", "eval.refusal.min_score"]
    assert "not compared: no paired scores" in failed[0].detail


def test_case_count_read_from_the_eval_summary_case_list():
    base = {**eval_summary(label_accuracy=0.9), "cases": [{}] * 5}
    result = evaluate_step(good(10, eval_compare=None, stable_eval=base, canary_eval=base), GATES)
    assert result.first_failure.name == "eval.samples"
    assert "5 cases" in result.first_failure.detail


def test_an_ignore_eos_canary_is_not_gated_on_truncation():
    """ignore_eos answers run to max_tokens by design; `make load` marks the summary so."""
    summary = {**load_summary(truncation_rate=1.0), "truncation_gated": False}
    result = evaluate_step(good(STEPS[0], canary_load=summary), GATES)
    check = next(c for c in result.checks if c.name == "load.truncation_rate")
    assert check.passed and "ignore_eos" in check.detail
    gated = evaluate_step(good(STEPS[0], canary_load=load_summary(truncation_rate=1.0)), GATES)
    assert not gated.passed and gated.first_failure.name == "load.truncation_rate"
