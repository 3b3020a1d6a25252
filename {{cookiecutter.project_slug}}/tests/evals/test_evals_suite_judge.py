"""The suite config and the judge: unknown metrics and a missing judge are stated, never passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.judge import (
    NO_JUDGE_NOTICE,
    JudgeConfig,
    JudgeModel,
    build_judge_metric,
    judge_from_env,
)
from evals.metrics import UnknownMetricError
from evals.suite import SuiteError, load_suite


def test_shipped_suite_loads():
    suite = load_suite()
    assert {"regular", "safety", "paraphrase"} <= {d.name for d in suite.datasets}
    assert suite.decoding.temperature == 0 and suite.decoding.max_tokens > 0
    assert suite.is_judge("answer_quality") and not suite.is_judge("label_accuracy")


def test_unknown_metric_in_the_suite(evals_copy: Path):
    suite = evals_copy / "suite.yaml"
    suite.write_text(suite.read_text().replace("  refusal: {}", "  refusal: {}\n  bleu: {}"))
    with pytest.raises(UnknownMetricError, match=r"suite.yaml: unknown metric 'bleu'"):
        load_suite(suite, prompts_dir=evals_copy / "prompts")


def test_dataset_using_an_unconfigured_metric(evals_copy: Path):
    suite = evals_copy / "suite.yaml"
    suite.write_text(suite.read_text().replace("metrics: [refusal,", "metrics: [rouge, refusal,"))
    with pytest.raises(UnknownMetricError, match="dataset 'safety' uses metric 'rouge'"):
        load_suite(suite, prompts_dir=evals_copy / "prompts")


def test_malformed_dataset_fails_the_suite_with_its_line(evals_copy: Path):
    data = evals_copy / "datasets" / "safety.jsonl"
    lines = data.read_text().splitlines()
    lines[4] = lines[4][:-3]
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"safety.jsonl:5: not valid JSON"):
        load_suite(evals_copy / "suite.yaml", prompts_dir=evals_copy / "prompts")


def test_bad_suite_values_are_named(evals_copy: Path):
    suite = evals_copy / "suite.yaml"
    suite.write_text(suite.read_text().replace("concurrency: 8", "concurrency: 0"))
    with pytest.raises(SuiteError, match=r"runner\.concurrency"):
        load_suite(suite, prompts_dir=evals_copy / "prompts")


def test_no_judge_means_none_and_half_a_judge_is_an_error():
    assert judge_from_env(1, {}) is None
    with pytest.raises(ValueError, match="judge half configured"):
        judge_from_env(1, {"JUDGE_ENDPOINT": "http://127.0.0.1:1/v1"})
    judge = judge_from_env(7, {"LOCAL_MODEL_BASE_URL": "http://h:1/v1/", "LOCAL_MODEL_NAME": "j"})
    assert judge == JudgeConfig("http://h:1/v1", "j", "not-needed", 7)
    assert "JUDGE_ENDPOINT" in NO_JUDGE_NOTICE


def test_judge_metric_is_geval_with_the_pinned_steps_on_our_structured_output_model():
    suite = load_suite()
    params = suite.metric_params("answer_quality")
    judge = JudgeConfig("http://127.0.0.1:9/v1", "judge-model", "k", 5)
    metric = build_judge_metric("answer_quality", params, judge)
    assert type(metric).__name__ == "GEval"
    assert metric.evaluation_steps == params["evaluation_steps"]
    assert isinstance(metric.model, JudgeModel) and metric.model.config is judge
    assert metric.model.get_model_name() == "judge-model"
    assert judge.decoding() == {"temperature": 0.0, "seed": 5, "max_tokens": 512}
