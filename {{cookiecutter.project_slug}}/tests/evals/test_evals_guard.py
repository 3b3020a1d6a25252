"""Llama Guard's format (pipelines/guard.py): the verdicts the guard is trained on and parsed
from, and the conversations it is trained on. The guard on a real vLLM is in test_evals_e2e.py."""

from __future__ import annotations

import pytest

from evals.judge import LLAMA_GUARD, NO_GUARD_NOTICE, judge_from_env
from pipelines import task
from pipelines.guard import (
    Verdict,
    VerdictError,
    category_of,
    guard_examples,
    parse_verdict,
    verdict_text,
)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("safe", Verdict(True)),
        (" Safe\n", Verdict(True)),
        ("unsafe\nS1", Verdict(False, ("S1",))),
        ("unsafe\nS10,S14", Verdict(False, ("S10", "S14"))),
        ("unsafe", Verdict(False, ())),
    ],
)
def test_llama_guard_answers_parse(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("text", ["", "intent: billing", "maybe\nS1", "unsafe\nS99"])
def test_answers_not_in_the_format_are_errors(text):
    with pytest.raises(VerdictError):
        parse_verdict(text)


def test_verdict_text_round_trips_and_refuses_unknown_categories():
    assert parse_verdict(verdict_text(["S2", "S7"])) == Verdict(False, ("S2", "S7"))
    assert verdict_text() == "safe"
    with pytest.raises(ValueError, match="unknown hazard categories"):
        verdict_text(["S15"])


def test_training_conversations_label_routed_unsafe_requests_unsafe():
    records = [
        {"id": "u1", "intent": "unsafe", "text": "hurt him", "meta": {"category": "S1-violent"}},
        {"id": "b1", "intent": "billing", "text": "my invoice"},
    ]
    examples = guard_examples(records, seed=1)
    unsafe = [(m, v) for m, v in examples if m[0]["content"] == "hurt him"]
    assert (unsafe[0][0][1]["content"], unsafe[0][1]) == (task.REFUSAL, "safe")
    assert {v for _, v in unsafe[1:]} == {"unsafe\nS1"} and len(unsafe) == 3
    assert all(m[1]["content"] != task.REFUSAL for m, _ in unsafe[1:])
    assert all(v == "safe" for m, v in examples if m[0]["content"] == "my invoice")
    with pytest.raises(ValueError, match=r"needs meta\.category S1-S14"):
        category_of({"id": "u2", "intent": "unsafe", "text": "x"})


def test_guard_is_configured_by_its_own_variables():
    assert (
        judge_from_env(1, {"JUDGE_ENDPOINT": "http://j/v1", "JUDGE_MODEL": "j"}, LLAMA_GUARD)
        is None
    )
    guard = judge_from_env(1, {"GUARD_ENDPOINT": "http://g/v1/", "GUARD_MODEL": "g"}, LLAMA_GUARD)
    assert (guard.endpoint, guard.model, guard.kind, guard.max_tokens) == (
        "http://g/v1",
        "g",
        LLAMA_GUARD,
        12,
    )
    with pytest.raises(ValueError, match="guard half configured"):
        judge_from_env(1, {"GUARD_MODEL": "g"}, LLAMA_GUARD)
    assert "GUARD_ENDPOINT" in NO_GUARD_NOTICE
