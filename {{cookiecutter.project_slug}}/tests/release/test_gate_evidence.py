"""The gate judges the models it was told about, every minimum gates.yaml sets, and e2e latency."""

from __future__ import annotations

import copy

import pytest
from canary_evidence import compare, demo_step, eval_summary, good, load_summary, model_block

from policies.gates import load_gates
from release.gate import StepEvidence, evaluate_step

GATES = load_gates()


def failed(evidence: StepEvidence) -> list[str]:
    return [c.name for c in evaluate_step(evidence, GATES).checks if not c.passed]


def first_failure(evidence: StepEvidence):
    return evaluate_step(evidence, GATES).first_failure


def with_model(doc: dict, role: str, **changes) -> dict:
    doc = copy.deepcopy(doc)
    side = "stable" if role == "base" else "canary"
    doc["comparison"][role] = {"model": model_block(side, **changes)}
    return doc


# --- identity --------------------------------------------------------------------------------


def test_real_demo_evidence_shape_passes_with_every_identity_check():
    result = evaluate_step(demo_step(), GATES)
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]
    names = [c.name for c in result.checks]
    for check in (
        "identity.eval.stable",
        "identity.eval.canary",
        "identity.load.stable",
        "identity.load.canary",
        "load.e2e_p95.slo",
        "load.e2e_p95.vs_stable",
        *(f"eval.{metric}.min_score" for metric in GATES.eval.min_scores),
    ):
        assert check in names


def test_a_comparison_whose_head_is_another_version_fails():
    doc = with_model(compare(), "head", model_version="9")
    failure = first_failure(good(10, eval_compare=doc))
    assert failure.name == "identity.eval.canary"
    assert "compare.json head is from version 9" in failure.detail
    assert failure.threshold == "2"


def test_a_comparison_whose_base_is_another_version_fails():
    doc = with_model(compare(), "base", model_version="2")  # stable judged against itself
    failure = first_failure(good(10, eval_compare=doc))
    assert failure.name == "identity.eval.stable"
    assert "compare.json base is from version 2" in failure.detail


@pytest.mark.parametrize("version", ["unknown", "", None])
def test_evidence_that_names_no_version_fails(version):
    # What a GKE eval wrote before it was told MODEL_VERSION: `model_version: unknown`.
    doc = with_model(compare(), "head", model_version=version)
    evidence = good(10, eval_compare=doc)
    assert failed(evidence) == ["identity.eval.canary"]
    assert "compare.json head names no model version" in first_failure(evidence).detail


def test_a_comparison_with_no_model_block_fails():
    doc = compare()
    doc["comparison"]["head"] = {}
    assert failed(good(10, eval_compare=doc)) == ["identity.eval.canary"]


def test_eval_measured_at_another_endpoint_fails():
    doc = with_model(compare(), "head", endpoint="http://elsewhere/v1")
    failure = first_failure(good(10, eval_compare=doc))
    assert failure.name == "identity.eval.canary"
    assert "measured http://elsewhere/v1" in failure.detail


def test_fallback_eval_summary_from_another_version_fails():
    other = {**eval_summary(label_accuracy=0.9), "manifest": {"model": model_block("canary")}}
    evidence = good(
        10, eval_compare=None, stable_eval=other, canary_eval=eval_summary(label_accuracy=0.9)
    )
    assert failed(evidence) == ["identity.eval.stable"]
    assert "stable eval summary is from version 2" in first_failure(evidence).detail


def test_a_load_summary_from_another_endpoint_fails():
    swapped = {**load_summary(), "endpoint": "http://stable/v1"}  # the canary's own was lost
    evidence = good(10, canary_load=swapped)
    assert failed(evidence) == ["identity.load.canary"]
    assert "canary load summary measured http://stable/v1" in first_failure(evidence).detail


def test_a_load_summary_that_names_no_endpoint_fails():
    evidence = good(10, stable_load={**load_summary(), "endpoint": None})
    assert failed(evidence) == ["identity.load.stable"]


def test_evidence_the_controller_did_not_describe_never_passes():
    assert set(failed(good(10, served={}))) == {
        f"identity.{kind}.{side}" for kind in ("eval", "load") for side in ("stable", "canary")
    }


# --- every min_scores metric -----------------------------------------------------------------


def test_a_min_scores_metric_measured_on_neither_side_fails():
    doc = compare()
    del doc["comparison"]["metrics"]["refusal"]
    doc["skipped_metrics"] = {"refusal": "skipped: dataset safety not in the suite"}
    evidence = good(10, eval_compare=doc)
    assert failed(evidence) == ["eval.refusal.min_score"]
    detail = first_failure(evidence).detail
    assert "not measured on either side" in detail and "dataset safety not in the suite" in detail


def test_a_min_scores_metric_missing_from_both_summaries_fails():
    base = eval_summary(label_accuracy=0.9)
    del base["metrics"]["format_validity"]
    evidence = good(10, eval_compare=None, stable_eval=base, canary_eval=copy.deepcopy(base))
    assert failed(evidence) == ["eval.format_validity.min_score"]


def test_a_min_scores_metric_measured_only_on_stable_fails():
    canary = eval_summary(label_accuracy=0.9)
    del canary["metrics"]["refusal"]
    evidence = good(
        10, eval_compare=None, stable_eval=eval_summary(label_accuracy=0.9), canary_eval=canary
    )
    assert "eval.refusal.min_score" in failed(evidence)
    assert "not measured on the canary" in first_failure(evidence).detail


# --- the comparison's outcome --------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["inconclusive", "regressed"])
def test_an_outcome_other_than_non_inferior_never_promotes(outcome):
    doc = compare()  # its CI lower bound, -0.01, clears the margin on its own
    doc["comparison"]["metrics"]["label_accuracy"]["outcome"] = outcome
    check = first_failure(good(10, eval_compare=doc))
    assert check.name == "eval.label_accuracy.non_inferior"
    assert check.detail.endswith(f"outcome {outcome}")


def test_a_non_inferior_outcome_still_needs_its_bound():
    doc = compare()
    doc["comparison"]["metrics"]["refusal"]["outcome"] = "non_inferior"
    assert evaluate_step(good(10, eval_compare=doc), GATES).passed
    doc["comparison"]["metrics"]["refusal"]["ci_low"] = -0.2
    assert first_failure(good(10, eval_compare=doc)).name == "eval.refusal.non_inferior"


# --- end-to-end latency ----------------------------------------------------------------------


def test_canary_e2e_p95_over_the_slo_fails():
    slo = GATES.load.e2e_p95_ms
    stable = load_summary(e2e=slo + 100)  # stable as slow: the absolute SLO still applies
    evidence = good(10, stable_load=stable, canary_load=load_summary(e2e=slo + 100))
    assert failed(evidence) == ["load.e2e_p95.slo"]


def test_canary_e2e_p95_much_slower_than_stable_fails():
    floor = GATES.canary.latency_noise_floor_ms["e2e"]
    stable = load_summary(e2e=400.0)
    slower = load_summary(e2e=400.0 * GATES.canary.max_latency_ratio + floor + 1)
    assert failed(good(10, stable_load=stable, canary_load=slower)) == ["load.e2e_p95.vs_stable"]
    # 3x slower, yet by less than the noise floor: jitter on a fast endpoint, not a regression.
    fast = load_summary(e2e=20.0)
    jitter = load_summary(e2e=20.0 + floor - 1)
    assert failed(good(10, stable_load=fast, canary_load=jitter)) == []


def test_a_load_summary_without_e2e_latency_fails():
    summary = load_summary()
    del summary["e2e_ms"]
    failure = first_failure(good(10, canary_load=summary))
    # A renamed or dropped field is a schema error naming it (common/contracts.py).
    assert failure.name == "load.evidence" and "e2e_ms: Field required" in failure.detail
    summary["e2e_ms"] = {"n": 0, "p50": None, "p95": None}  # no answer finished
    failure = first_failure(good(10, canary_load=summary))
    assert failure.name == "load.e2e_p95" and "no E2E p95 in the canary" in failure.detail


def test_one_token_answers_have_no_itl_and_pass_as_the_load_gate_rules():
    """ITL is undefined when no answer has a second token (loadtest/metrics.py `gate` passes
    it); a missing ITL p95 with answered requests is that case, not missing evidence."""
    gapless = load_summary()
    gapless["itl_ms"] = {"p50": None, "p95": None, "p99": None, "n": 0}
    gapless["ok_requests"] = 40
    assert failed(good(10, canary_load=gapless)) == []
    check = next(
        c
        for c in evaluate_step(good(10, canary_load=gapless), GATES).checks
        if c.name == "load.itl_p95"
    )
    assert "1-token answers" in check.detail
    # No ITL figure and no answered request: missing evidence, not 1-token answers.
    gapless["ok_requests"] = 0
    assert first_failure(good(10, canary_load=gapless)).name == "load.itl_p95"


def test_the_eval_stages_own_verdict_holds_the_canary_back():
    """A check only the eval gate makes (here: goldens that leak into the training data) must
    stop the canary too, though every per-metric row passes."""
    doc = compare()
    doc["gate"] = {"passed": False, "failed": ["regular leakage_near_duplicate"]}
    assert failed(good(10, eval_compare=doc)) == ["eval.gate"]
    assert "regular leakage_near_duplicate" in first_failure(good(10, eval_compare=doc)).detail
    doc["gate"] = {"passed": True, "failed": []}
    assert not failed(good(10, eval_compare=doc))


def with_checks(*checks: dict):
    from policies.gates import CanaryCheck

    canary = GATES.canary.model_copy(update={"checks": [CanaryCheck(**c) for c in checks]})
    return GATES.model_copy(update={"canary": canary})


def test_a_check_declared_in_the_gates_file_judges_the_canary():
    """`canary.checks` is the whole change for a new canary check (policies/gates.yaml)."""
    summary = {**load_summary(), "goodput": {"fraction": 0.8}, "tpot_ms": {"p95": 30.0}}
    gates = with_checks(
        {"name": "goodput", "metric": "goodput.fraction", "min": 0.9},
        {"name": "tpot-p95", "metric": "tpot_ms.p95", "max": 50},
        {"name": "nowhere", "metric": "no.such.field", "max": 1},
    )
    result = evaluate_step(good(10, canary_load=summary), gates)
    by_name = {c.name: c for c in result.checks}
    assert not by_name["load.goodput"].passed and "goodput.fraction 0.8 (min 0.9)" in (
        by_name["load.goodput"].detail
    )
    assert by_name["load.tpot-p95"].passed
    assert not by_name["load.nowhere"].passed  # never passes by absence
    assert "not in the canary load summary" in by_name["load.nowhere"].detail


def test_a_declared_check_without_a_range_or_a_repeated_name_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give min, max or both"):
        with_checks({"name": "x", "metric": "goodput.fraction"})
    with pytest.raises(ValidationError, match="names must be unique"):
        from policies.gates import CanaryGates

        CanaryGates(
            **{
                **GATES.canary.model_dump(),
                "checks": [{"name": "a", "metric": "m", "max": 1}] * 2,
            }
        )
