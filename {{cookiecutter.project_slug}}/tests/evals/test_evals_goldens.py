"""Golden datasets: the shipped sets are valid, held out from training, and bad lines are named."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from common.project import ROOT
from evals.goldens import SAFETY_CATEGORIES, DatasetError, load_dataset
from pipelines import task

DATASETS = ROOT / "evals" / "datasets"


def test_shipped_datasets_are_valid_and_large_enough():
    regular = load_dataset(DATASETS / "regular.jsonl", "regular")
    safety = load_dataset(DATASETS / "safety.jsonl", "safety", kind="safety")
    assert len(regular.cases) >= 200 and len(safety.cases) >= 210
    routable = set(task.LABELS) - {task.UNSAFE_LABEL}
    assert {task.parse_answer(c.expected_output) for c in regular.cases} == routable
    # Enough cases per group for the paired bootstrap to say something about each of them.
    per_intent = Counter(task.parse_answer(c.expected_output) for c in regular.cases)
    assert all(per_intent[label] >= 25 for label in routable), per_intent
    per_category = Counter(c.category for c in safety.cases)
    assert all(per_category[name] >= 15 for name in SAFETY_CATEGORIES), per_category
    assert all(c.expected_output == task.REFUSAL for c in safety.cases)
    assert all(c.category in SAFETY_CATEGORIES for c in safety.cases)
    assert len({c.category for c in safety.cases}) == len(SAFETY_CATEGORIES)
    assert len(regular.sha256) == 64 and regular.sha256 != safety.sha256


def test_safety_beyond_input_labels_sets_are_valid():
    over = load_dataset(DATASETS / "over_refusal.jsonl", "over_refusal")
    jailbreak = load_dataset(DATASETS / "jailbreak.jsonl", "jailbreak")
    assert 40 <= len(over.cases) <= 60 and 40 <= len(jailbreak.cases) <= 60
    routable = set(task.LABELS) - {task.UNSAFE_LABEL}
    # Benign requests in risky words: every routable intent, never the refusal.
    assert {task.parse_answer(c.expected_output) for c in over.cases} == routable
    assert all(c.metadata["looks_like"] in SAFETY_CATEGORIES for c in over.cases)
    assert all(c.expected_output == task.REFUSAL for c in jailbreak.cases)
    assert all(c.metadata["hazard"] in SAFETY_CATEGORIES for c in jailbreak.cases)
    for dataset in (over, jailbreak):
        per_category = Counter(c.category for c in dataset.cases)
        assert len(per_category) >= 5 and min(per_category.values()) >= 8, per_category
        assert all(len(c.input) <= task.MAX_TEXT_CHARS for c in dataset.cases)


def test_no_golden_carries_unused_metadata():
    # keyword_presence is gone; nothing reads metadata.keywords.
    for path in sorted(DATASETS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            assert "keywords" not in json.loads(line).get("metadata", {}), path


def test_goldens_are_held_out_from_the_training_data():
    # The exact check; evals/leakage.py (tests/evals/test_evals_leakage.py) adds near-copies.
    training = {
        task.normalise_text(json.loads(line)["text"])
        for version in ("intents.jsonl", "intents-v2.jsonl")
        for line in (ROOT / "pipelines" / "data" / version).read_text().splitlines()
    }
    for path in sorted(DATASETS.glob("*.jsonl")):
        name = path.stem
        for line in path.read_text().splitlines():
            text = task.normalise_text(json.loads(line)["input"])
            assert text not in training, f"{name} case copies a training message: {text!r}"


def test_hash_is_the_content(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text((DATASETS / "regular.jsonl").read_text())
    first = load_dataset(path, "d").sha256
    assert load_dataset(path, "d").sha256 == first
    path.write_text(path.read_text().replace("refund", "reimbursement"))
    assert load_dataset(path, "d").sha256 != first


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"id": "a", "input": "hi", "expected_output": "intent: billing", "category": "x"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (
            json.dumps({"id": "b", "input": "hi", "category": "x"}),
            "expected_output: Field required",
        ),
        (
            json.dumps({"id": "b", "input": "  ", "expected_output": "y", "category": "x"}),
            "input: Value error, must not be blank",
        ),
        (
            json.dumps({"id": "b c", "input": "x", "expected_output": "y", "category": "x"}),
            "id: Value error",
        ),
        (
            json.dumps(
                {"id": "b", "input": "x", "expected_output": "y", "category": "x", "extra": 1}
            ),
            "extra: Extra inputs are not permitted",
        ),
        (GOOD, "id 'a' repeats line 1"),
    ],
)
def test_a_bad_line_is_named_with_its_number(tmp_path: Path, line: str, expected: str):
    path = _write(tmp_path, [GOOD, line])
    with pytest.raises(DatasetError) as error:
        load_dataset(path, "bad")
    assert f"{path}:2: " in str(error.value)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path: Path):
    path = _write(tmp_path, ["{", GOOD, "", "[]"])
    with pytest.raises(DatasetError, match="2 problem") as error:
        load_dataset(path, "bad")
    assert f"{path}:1:" in str(error.value) and f"{path}:4:" in str(error.value)


def test_empty_and_missing_files_are_refused(tmp_path: Path):
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(_write(tmp_path, [""]), "bad")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.jsonl", "nope")


def test_safety_cases_need_a_taxonomy_category(tmp_path: Path):
    path = _write(tmp_path, [GOOD])
    with pytest.raises(DatasetError, match="not a safety category"):
        load_dataset(path, "s", kind="safety")
