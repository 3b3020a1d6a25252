"""Each metric on ordinary and edge cases; unknown names and bad parameters fail early."""

from __future__ import annotations

import pytest
from deepeval.metrics import BaseMetric
from deepeval.test_case import LLMTestCase

from evals.metrics import METRICS, UnknownMetricError, build_metric, check_metric, is_gated


def case(output, expected="intent: billing", metadata=None, seconds=None) -> LLMTestCase:
    return LLMTestCase(
        input="my invoice is wrong",
        actual_output=output,
        expected_output=expected,
        metadata=metadata,
        completion_time=seconds,
    )


def score(name: str, test_case: LLMTestCase, **params) -> float | None:
    metric = build_metric(name, params)
    assert isinstance(metric, BaseMetric)
    metric.measure(test_case)
    assert metric.reason
    if metric.score is not None:
        assert metric.success == (metric.score >= metric.threshold)
    return metric.score


@pytest.mark.parametrize(
    ("output", "exact", "normalised", "label", "fmt"),
    [
        ("intent: billing", 1.0, 1.0, 1.0, 1.0),
        ("  intent: billing\n", 1.0, 1.0, 1.0, 1.0),
        ("Intent:  Billing.", 0.0, 1.0, 1.0, 0.0),
        ("intent: refund", 0.0, 0.0, 0.0, 1.0),
        ("intent: billingx", 0.0, 0.0, 0.0, 0.0),
        ("intent: billing please", 0.0, 0.0, 0.0, 0.0),
        ("intent:billing", 0.0, 0.0, 1.0, 1.0),
        ("billing", 0.0, 0.0, 0.0, 0.0),
        ("", 0.0, 0.0, 0.0, 0.0),
        (None, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_match_label_and_format(output, exact, normalised, label, fmt):
    test_case = case(output)
    assert score("exact_match", test_case) == exact
    assert score("normalised_match", test_case) == normalised
    assert score("label_accuracy", test_case) == label
    assert score("format_validity", test_case) == fmt


def test_label_accuracy_refuses_an_expected_output_without_a_label():
    with pytest.raises(ValueError, match="names no known label"):
        score("label_accuracy", case("intent: billing", expected="billing please"))


def test_format_validity_with_a_regex():
    assert score("format_validity", case('{"intent": "x"}'), pattern=r"\{.*\}") == 1.0
    assert score("format_validity", case("intent: billing"), pattern=r"\{.*\}") == 0.0
    with pytest.raises(ValueError, match="invalid pattern"):
        build_metric("format_validity", {"pattern": "("})


def test_refusal():
    unsafe = "intent: unsafe"
    assert score("refusal", case(unsafe, expected=unsafe)) == 1.0
    assert score("refusal", case(" Intent: UNSAFE.", expected=unsafe)) == 1.0
    assert score("refusal", case("intent: billing", expected=unsafe)) == 0.0
    assert score("refusal", case("", expected=unsafe)) == 0.0
    sorry = case("Sorry, I can't help with that.", expected=unsafe)
    assert score("refusal", sorry) == 0.0
    assert score("refusal", sorry, phrases=["I can't help"]) == 1.0


def test_non_refusal_scores_an_answer_that_is_not_a_refusal():
    benign = "intent: technical_issue"
    assert score("non_refusal", case("intent: technical_issue", expected=benign)) == 1.0
    assert score("non_refusal", case("intent: billing", expected=benign)) == 1.0
    assert score("non_refusal", case(" Intent: UNSAFE.", expected=benign)) == 0.0
    # Not a refusal, so not an over-refusal: format_validity scores the form.
    assert score("non_refusal", case("", expected=benign)) == 1.0
    sorry = case("Sorry, I can't help with that.", expected=benign)
    assert score("non_refusal", sorry) == 1.0
    assert score("non_refusal", sorry, phrases=["I can't help"]) == 0.0


def test_gated_can_be_set_per_metric_in_the_suite():
    assert is_gated("label_accuracy", {}) and not is_gated("latency", {})
    assert not is_gated("paraphrase", {"type": "label_accuracy", "gated": False})
    assert is_gated("slow", {"type": "latency", "gated": True})
    assert is_gated("quality", {"judge": "geval", "evaluation_steps": ["a"]})
    # `gated` is the suite's, not the metric class's: it builds.
    build_metric("paraphrase", {"type": "label_accuracy", "gated": False})
    with pytest.raises(ValueError, match="gated='no' must be true or false"):
        check_metric("paraphrase", {"type": "label_accuracy", "gated": "no"})


def test_latency():
    assert score("latency", case("x", seconds=0.25), budget_ms=500) == 1.0
    assert score("latency", case("x", seconds=0.5), budget_ms=500) == 1.0
    assert score("latency", case("x", seconds=0.75), budget_ms=500) == 0.0
    assert score("latency", case("x"), budget_ms=500) is None
    assert not METRICS["latency"].gated and METRICS["label_accuracy"].gated
    with pytest.raises(ValueError, match="must be positive"):
        build_metric("latency", {"budget_ms": 0})


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'bleu'.*label_accuracy"):
        build_metric("bleu", {})
    with pytest.raises(UnknownMetricError, match="unknown judge kind 'magic'"):
        check_metric("quality", {"judge": "magic", "evaluation_steps": ["a"]})


def test_bad_parameters_and_unpinned_judge_steps():
    with pytest.raises(ValueError, match="metric 'refusal': bad parameters"):
        build_metric("refusal", {"phrase": ["x"]})
    with pytest.raises(ValueError, match="pinned `evaluation_steps`"):
        check_metric("quality", {"judge": "geval"})
    check_metric("quality", {"judge": "geval", "evaluation_steps": ["Is it right?"]})
