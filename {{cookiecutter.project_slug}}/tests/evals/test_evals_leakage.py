"""Leakage between goldens and training data: each kind of leak, the gate, its config, and the
shipped goldens against the shipped training data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from evals import leakage
from evals.gate import run_gate
from evals.goldens import load_dataset
from evals.suite import load_suite
from policies.gates import GATES_FILE, GatesError, LeakageGates, load_gates

SETTINGS = LeakageGates(ngram=3, near_duplicate=0.5, examples=5)
TRAINING = [
    "Hey there, is the smart watch waterproof thanks",
    "I was charged $49 twice for order #B2291",
    "where is my order #C7730",
    "the app crashes when I open it on my laptop",
]


def _training(tmp_path: Path, texts: list[str] = TRAINING) -> tuple[Path, ...]:
    path = tmp_path / "train.jsonl"
    rows = [{"id": f"t{i}", "intent": "billing", "text": t} for i, t in enumerate(texts)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return (path,)


def _dataset(tmp_path: Path, inputs: dict[str, str], name: str = "goldens"):
    path = tmp_path / f"{name}.jsonl"
    rows = [
        {"id": i, "input": text, "expected_output": "intent: billing", "category": "billing"}
        for i, text in inputs.items()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_dataset(path, name)


def _report(tmp_path: Path, inputs: dict[str, str], settings: LeakageGates = SETTINGS) -> dict:
    dataset = _dataset(tmp_path, inputs)
    return leakage.report([dataset], settings, _training(tmp_path))


def test_each_kind_of_leak_is_found_and_named(tmp_path: Path):
    result = _report(
        tmp_path,
        {
            "copy": "  where is my order #C7730 ",
            "recased": "WHERE is my order #C7730?",
            # 3 of its 4 word trigrams are in the first training message.
            "near": "is the smart watch waterproof enough",
            "clean": "Could you tell me how to pair the headphones with my car?",
            "short": "refund",
        },
    )
    row = result["datasets"]["goldens"]
    assert (row["cases"], row["exact"], row["normalised"], row["near_duplicate"]) == (5, 1, 1, 1)
    assert row["leaking"] == 3 and row["max_score"] == 1.0
    by_id = {c["id"]: c for c in row["closest"]}
    assert by_id["copy"]["kind"] == "exact" and by_id["recased"]["kind"] == "normalised"
    near = by_id["near"]
    assert near["kind"] == "near_duplicate" and near["score"] == 0.75
    assert near["training"]["line"] == 1 and near["training"]["id"] == "t0"
    assert near["training"]["text"] == TRAINING[0]
    assert near["training"]["split"] in {"train", "validation", "test"}
    assert "short" not in by_id
    # Leaks are listed first, strongest first.
    assert [c["kind"] for c in row["closest"][:3]] == ["exact", "normalised", "near_duplicate"]
    assert result["ngram"] == 3 and result["near_duplicate"] == 0.5
    assert result["training_data"][0]["messages"] == len(TRAINING)
    assert len(result["training_data"][0]["sha256"]) == 64


def test_below_the_threshold_is_reported_but_not_a_leak(tmp_path: Path):
    # 2 of its 4 trigrams ("the app crashes", "app crashes when") are in a training message.
    text = "the app crashes when rotating sideways"
    at = _report(tmp_path, {"half": text})["datasets"]["goldens"]
    assert at["near_duplicate"] == 1 and at["closest"][0]["score"] == 0.5
    below = _report(tmp_path, {"half": text}, LeakageGates(near_duplicate=0.6))
    row = below["datasets"]["goldens"]
    assert row["leaking"] == 0 and row["max_score"] == 0.5
    assert row["closest"][0]["kind"] is None and row["closest"][0]["id"] == "half"


def test_a_clean_set_passes_the_gate(tmp_path: Path):
    result = _report(tmp_path, {"a": "My parcel is stuck in customs", "b": "Unlock my profile"})
    assert result["datasets"]["goldens"]["leaking"] == 0
    gates = load_gates().eval.model_copy(update={"leakage": SETTINGS})
    checks = leakage.leakage_checks(result, gates)
    assert [c["check"] for c in checks] == [
        "leakage_exact",
        "leakage_normalised",
        "leakage_near_duplicate",
    ]
    assert all(c["passed"] for c in checks) and all(c["metric"] == "goldens" for c in checks)
    assert set(checks[0]) == {"metric", "check", "value", "threshold", "passed", "note"}


def test_the_gate_fails_a_leaking_set_and_names_the_goldens(tmp_path: Path):
    result = _report(tmp_path, {"near": "is the smart watch waterproof enough", "ok": "hello"})
    gates = load_gates().eval.model_copy(update={"leakage": SETTINGS})
    failed = [c for c in leakage.leakage_checks(result, gates) if not c["passed"]]
    assert [c["check"] for c in failed] == ["leakage_near_duplicate"]
    assert failed[0]["value"] == 0.5 and failed[0]["threshold"] == 0.0
    assert "1 of 2 goldens: near (0.75)" in failed[0]["note"]
    assert "train.jsonl:1" in failed[0]["note"]
    # A share allowance lets it through.
    allow = LeakageGates(ngram=3, near_duplicate=0.5, max_share={"near_duplicate": 0.5})
    allowing = gates.model_copy(update={"leakage": allow})
    assert all(c["passed"] for c in leakage.leakage_checks(result, allowing))


def test_a_missing_or_stale_report_fails_and_no_config_means_no_check(tmp_path: Path):
    gates = load_gates().eval
    (missing,) = leakage.leakage_checks(None, gates)
    assert not missing["passed"] and "no leakage report" in missing["note"]
    stale = _report(tmp_path, {"a": "hello there"}, LeakageGates(ngram=4))
    (check,) = leakage.leakage_checks(stale, gates)
    assert not check["passed"] and "ngram=4" in check["note"]
    assert leakage.leakage_checks(None, gates.model_copy(update={"leakage": None})) == []


def test_run_gate_includes_the_leakage_checks(tmp_path: Path):
    result = _report(tmp_path, {"copy": "where is my order #C7730"})
    gates = load_gates().eval.model_copy(update={"leakage": SETTINGS, "category_minimums": None})
    summary = {"cases": [], "metrics": {}, "manifest": {"leakage": result}}
    gate = run_gate(summary, gates.model_copy(update={"min_scores": {}, "min_cases": 1}))
    assert "goldens leakage_exact" in gate["failed"]
    assert gate["thresholds"]["leakage"]["near_duplicate"] == 0.5


def test_unreadable_training_data_names_the_line(tmp_path: Path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "ok"}\n{"id": 2}\n')
    dataset = _dataset(tmp_path, {"a": "hello"})
    with pytest.raises(leakage.LeakageError, match=r"train.jsonl:2: not a training message"):
        leakage.report([dataset], SETTINGS, (path,))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ngram": 1}, "eval.leakage.ngram"),
        ({"near_duplicate": 0}, "eval.leakage.near_duplicate"),
        ({"near_duplicate": 1.5}, "eval.leakage.near_duplicate"),
        ({"max_share": {"exact": -0.1}}, "eval.leakage.max_share.exact"),
        ({"max_share": {"fuzzy": 0.1}}, "eval.leakage.max_share.fuzzy: Extra inputs"),
        ({"threshold": 0.5}, "eval.leakage.threshold: Extra inputs"),
    ],
)
def test_bad_leakage_gates_are_refused_with_the_field(tmp_path: Path, change, problem):
    raw = yaml.safe_load(GATES_FILE.read_text())
    raw["eval"]["leakage"].update(change)
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(GatesError, match="invalid") as error:
        load_gates(path)
    assert problem in str(error.value)


def test_training_data_is_what_the_pipelines_train_on():
    names = [p.name for p in leakage.training_files()]
    assert names == ["intents-v2.jsonl", "intents.jsonl"]


def test_the_shipped_goldens_pass_against_the_shipped_training_data():
    gates = load_gates().eval
    suite = load_suite()
    started = time.perf_counter()
    result = leakage.report(suite)
    seconds = time.perf_counter() - started
    assert set(result["datasets"]) == {d.name for d in suite.datasets}
    checks = leakage.leakage_checks(result, gates)
    assert len(checks) == 3 * len(suite.datasets)
    failed = [c for c in checks if not c["passed"]]
    assert not failed, failed
    assert all(row["leaking"] == 0 for row in result["datasets"].values())
    # Pure and fast: well under a second or two even on a busy 2-core machine.
    assert seconds < 5, seconds
