"""The typed evidence between stages (common/contracts.py): errors name the document and field."""

from __future__ import annotations

import pytest

from common.contracts import ContractError, EvalCompare, EvalSummary, ModelRef


def summary(**changes):
    return {
        "manifest": {"model": {"model_version": 3, "endpoint": "http://m/v1"}},
        "metrics": {"label_accuracy": {"mean": 0.5, "n": 10}},
        "cases": [{}] * 10,
        "producer_only": {"kept": True},
        **changes,
    }


def test_a_summary_reads_with_its_extras_kept_and_versions_as_text():
    read = EvalSummary.read(summary(), "eval summary")
    assert read.manifest.model.model_version == "3"  # YAML/JSON wrote a number
    assert read.metrics["label_accuracy"].gated  # the default
    assert read.model_extra == {"producer_only": {"kept": True}}
    assert ModelRef.read({"model_version": None, "endpoint": None}, "m").model_version == ""


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"cases": 10}, "cases: Input should be a valid list"),
        ({"metrics": {"label_accuracy": {"score": 0.5}}}, "metrics.label_accuracy.mean: Field"),
        ({"manifest": {}}, "manifest.model: Field required"),
    ],
)
def test_a_document_that_does_not_match_names_itself_and_the_field(changes, needle):
    with pytest.raises(ContractError) as caught:
        EvalSummary.read(summary(**changes), "canary eval summary")
    message = str(caught.value)
    assert message.startswith("canary eval summary does not match its schema (EvalSummary")
    assert needle in message


def test_a_comparison_row_outcome_is_one_of_three():
    doc = {
        "comparison": {
            "base": {"model": {"model_version": "1"}},
            "head": {},
            "paired_cases": 5,
            "metrics": {"refusal": {"outcome": "better"}},
        }
    }
    with pytest.raises(ContractError, match=r"comparison\.metrics\.refusal\.outcome"):
        EvalCompare.read(doc, "compare.json")
    doc["comparison"]["metrics"]["refusal"]["outcome"] = "inconclusive"
    assert EvalCompare.read(doc, "compare.json").comparison.head.model.model_version == ""
