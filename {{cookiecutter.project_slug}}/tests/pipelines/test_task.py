"""The task definition shared with evals/: answer format, normalisation, scoring, splits."""

from __future__ import annotations

import pytest

from pipelines import task


def test_every_label_formats_and_parses_back():
    for label in task.LABELS:
        answer = task.format_answer(label)
        assert answer == f"intent: {label}"
        assert task.parse_answer(answer) == label
        assert task.is_valid_format(answer)
        assert task.is_correct(answer, label)


def test_unknown_label_cannot_be_formatted():
    with pytest.raises(ValueError, match="unknown intent label 'nope'"):
        task.format_answer("nope")


@pytest.mark.parametrize(
    ("answer", "label", "valid"),
    [
        ("  Intent:   Billing. ", "billing", False),
        ("intent:refund", "refund", True),
        ("INTENT: SHIPPING", "shipping", False),
        ("intent: billing\n", "billing", True),
    ],
)
def test_normalisation_is_lenient_but_format_check_is_strict(answer, label, valid):
    assert task.parse_answer(answer) == label
    assert task.is_valid_format(answer) is valid


@pytest.mark.parametrize(
    "answer", ["", "billing", "intent: nope", "intent: billing and refund", "the intent: billing"]
)
def test_wrong_answers_do_not_parse(answer):
    assert task.parse_answer(answer) is None
    assert not task.is_valid_format(answer)
    assert not task.is_correct(answer, "billing")


def test_refusal_is_the_unsafe_answer():
    assert task.REFUSAL == "intent: unsafe"
    assert task.is_refusal(task.REFUSAL)
    assert not task.is_refusal("intent: billing")
    assert not task.is_refusal("I cannot help with that")


def test_split_is_deterministic_and_ignores_case_and_spacing():
    assert task.split_of("Where is my order?") == task.split_of("  where is   my ORDER? ")
    counts = {name: 0 for name, _ in task.SPLITS}
    for i in range(2000):
        counts[task.split_of(f"message {i}")] += 1
    assert 1450 < counts["train"] < 1750
    assert counts["validation"] > 120 and counts["test"] > 120


def test_messages_with_and_without_system_prompt():
    assert task.build_messages("hi") == [
        {"role": "system", "content": task.SYSTEM_PROMPT},
        {"role": "user", "content": "hi"},
    ]
    assert task.build_messages("hi", system_prompt=False) == [{"role": "user", "content": "hi"}]
