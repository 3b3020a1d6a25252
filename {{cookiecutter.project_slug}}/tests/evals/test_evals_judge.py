"""The judge's mechanics without a server: the answer schema, its identity and cache key, a
failing judge (retried, then "not scored"), the gate's inconclusive judge metric and the
comparison's refusal to mix judges. The judge against a real vLLM is in test_evals_e2e.py."""

from __future__ import annotations

import copy
import socket

import pytest
from deepeval.metrics.g_eval.schema import ReasonScore

from evals.cache import ResponseCache
from evals.compare import JudgeMismatchError, check_same_judge
from evals.gate import run_gate
from evals.judge import JudgeConfig, JudgeJob, answer_schema, score_all, steps_sha256
from policies.gates import EvalGates

STEPS = {"evaluation_steps": ["Is the intent right?"], "threshold": 0.5}
IDENTITY = (("served_model_name", "j"), ("model_version", "3"), ("model_root", "/m"))


def _dead_endpoint() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _job(output: str = "intent: billing", key: str = "regular/r1") -> JudgeJob:
    return JudgeJob(key, "answer_quality", STEPS, "my bill", "intent: billing", output)


def test_answer_schema_is_gevals_with_the_reason_bounded():
    schema = answer_schema(ReasonScore, 300)
    assert schema["required"] == ["reason", "score"] and schema["additionalProperties"] is False
    assert schema["properties"]["reason"] == {"maxLength": 300, "title": "Reason", "type": "string"}
    assert schema["properties"]["score"] == {"type": "integer", "enum": list(range(11))}


def test_cache_key_follows_the_judge_the_steps_and_the_answer_not_the_url():
    judge = JudgeConfig("http://a/v1", "j", "k", 1, identity=IDENTITY)
    key = _job().cache_key(judge)
    moved = JudgeConfig("http://elsewhere/v1", "j", "k", 1, identity=IDENTITY)
    assert _job().cache_key(moved) == key
    other = JudgeConfig(
        "http://a/v1", "j", "k", 1, identity=(*IDENTITY[:1], ("model_version", "4"))
    )
    assert _job().cache_key(other) != key
    assert _job("intent: refund").cache_key(judge) != key
    changed = JudgeJob("regular/r1", "answer_quality", {**STEPS, "threshold": 0.7}, *"abc")
    assert steps_sha256(changed.params) != steps_sha256(STEPS)
    assert JudgeConfig("u", "j", "k", 1).version_known is False and judge.version_known


def test_a_failing_judge_is_retried_then_not_scored_and_never_cached(tmp_path):
    judge = JudgeConfig(_dead_endpoint(), "j", "k", 1, retries=1, timeout_s=2, identity=IDENTITY)
    cache = ResponseCache(tmp_path)
    results = score_all([_job(), _job(key="regular/r2")], judge, cache, concurrency=2)
    assert len(results) == 2
    for result in results.values():
        assert result.score is None and result.attempts == 2
        assert "Connection" in result.error or "connect" in result.error.lower()
    assert not list(tmp_path.rglob("*.json"))


def test_cached_scores_are_served_without_calling_the_judge(tmp_path):
    judge = JudgeConfig(_dead_endpoint(), "j", "k", 1, retries=0, identity=IDENTITY)
    cache = ResponseCache(tmp_path)
    cache.put(_job().cache_key(judge), {"score": 0.8, "reason": "right intent"})
    (result,) = score_all([_job()], judge, cache, concurrency=1).values()
    assert (result.score, result.reason, result.cached) == (0.8, "right intent", True)


GATES = EvalGates(max_regression=0.05, confidence=0.95, min_cases=1, min_cases_per_metric=3)


def _judge_summary(scored: int, failed: int) -> dict:
    metrics = {
        "answer_quality": {
            "mean": 0.7 if scored else None,
            "n": scored,
            "gated": True,
            "judge": True,
            "not_scored": failed,
        },
    }
    return {"metrics": metrics, "skipped_metrics": {}, "cases": [{}] * (scored + failed)}


@pytest.mark.parametrize(
    ("scored", "failed", "passed"), [(20, 1, True), (20, 2, False), (2, 0, False), (0, 5, False)]
)
def test_a_judge_metric_with_too_few_scored_cases_is_inconclusive(scored, failed, passed):
    gate = run_gate(_judge_summary(scored, failed), GATES)
    (check,) = [c for c in gate["checks"] if c["check"] == "judge_scored"]
    assert check["passed"] is passed and gate["passed"] is passed
    if not passed:
        assert check["note"].startswith("inconclusive") and "judge_errors" in check["note"]


def _side(model_version: str, steps: str = "s1") -> dict:
    judge = {
        "model": "j",
        "model_version": model_version,
        "identity_sha256": model_version,
        "steps_sha256": {"answer_quality": steps},
    }
    return {"manifest": {"judge": judge}}


def test_compare_refuses_different_judges_or_judge_steps():
    check_same_judge(_side("1"), copy.deepcopy(_side("1")))
    check_same_judge(_side("1"), {"manifest": {"judge": None}})  # missing: the gate fails it
    with pytest.raises(JudgeMismatchError, match="comparable only under one judge"):
        check_same_judge(_side("1"), _side("2"))
    with pytest.raises(JudgeMismatchError, match="answer_quality have different evaluation"):
        check_same_judge(_side("1"), _side("1", "s2"))
