"""Data validation: every problem names its file, line and field; nothing written on failure."""

from __future__ import annotations

import json

import pytest

from pipelines import data_prep, steps, task
from tests.pipelines.conftest import write_jsonl


def good_rows(n: int = 60) -> list[dict]:
    labels = task.LABELS
    return [
        {
            "id": f"r{i}",
            "text": f"message number {i} about {labels[i % len(labels)]}",
            "intent": labels[i % len(labels)],
        }
        for i in range(n)
    ]


def problems_for(tmp_path, rows) -> str:
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(data_prep.DataError) as error:
        data_prep.prepare(str(path))
    return str(error.value)


def test_a_good_file_is_split_by_content(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", good_rows())
    prepared = data_prep.prepare(str(path))
    assert sum(len(r) for r in prepared.splits.values()) == 60
    for name, records in prepared.splits.items():
        assert all(task.split_of(r["text"]) == name for r in records)
    assert prepared.card["records"] == 60


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"id": "x", "text": "hello", "intent": "nope"},
            ":3, field 'intent': unknown label 'nope'",
        ),
        ({"id": "x", "text": "   ", "intent": "billing"}, ":3, field 'text': empty"),
        ({"id": "x", "intent": "billing"}, ":3, field 'text': missing"),
        ({"id": 7, "text": "hello", "intent": "billing"}, ":3, field 'id': expected str, got int"),
        (
            {"id": "x", "text": "a" * 401, "intent": "billing"},
            ":3, field 'text': 401 characters, at most 400",
        ),
        (
            {"id": "x", "text": "hello", "intent": "billing", "label": "y"},
            ":3, field 'label': unknown field",
        ),
        (
            {"id": "x", "text": "hello", "intent": "billing", "meta": [1]},
            ":3, field 'meta': expected object",
        ),
        ("{not json", ":3: not valid JSON"),
        ("[1, 2]", ":3: expected a JSON object, got list"),
    ],
)
def test_each_bad_row_is_named_by_line_and_field(tmp_path, bad, expected):
    rows = good_rows()
    rows.insert(2, bad)
    message = problems_for(tmp_path, rows)
    assert expected in message
    assert "data.jsonl" in message


def test_duplicates_and_conflicts_point_at_the_first_occurrence(tmp_path):
    rows = good_rows()
    rows.append({"id": "r1", "text": "something new", "intent": "billing"})
    rows.append({"id": "dup", "text": "  MESSAGE number 0 about billing", "intent": "billing"})
    rows.append({"id": "conf", "text": "message number 1 about refund", "intent": "shipping"})
    message = problems_for(tmp_path, rows)
    assert ":61, field 'id': duplicate of" in message and "data.jsonl:2" in message
    assert ":62, field 'text': duplicate" in message
    assert ":63, field 'text': conflicting label 'refund' at" in message


def test_all_problems_are_reported_at_once(tmp_path):
    rows = good_rows()
    rows[5] = {"id": "a", "text": "", "intent": "zzz"}
    rows[9] = "oops"
    message = problems_for(tmp_path, rows)
    assert "3 problems" in message or "problems" in message
    assert ":6, field 'text': empty" in message
    assert ":6, field 'intent': unknown label 'zzz'" in message
    assert ":10: not valid JSON" in message


def test_missing_file_empty_file_and_empty_split(tmp_path):
    with pytest.raises(data_prep.DataError, match=r"dataset file not found: .*nope\.jsonl"):
        data_prep.prepare(str(tmp_path / "nope.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(data_prep.DataError, match="no records"):
        data_prep.prepare(str(tmp_path / "empty.jsonl"))
    message = problems_for(tmp_path, good_rows(2))
    assert "is empty: every split needs records" in message


def test_a_split_directory_is_checked_for_leakage(tmp_path):
    rows = good_rows(30)
    write_jsonl(tmp_path / "train.jsonl", rows[:20])
    write_jsonl(tmp_path / "validation.jsonl", rows[20:25])
    write_jsonl(tmp_path / "test.jsonl", rows[25:])
    prepared = data_prep.prepare(str(tmp_path))
    assert [len(prepared.splits[s]) for s in ("train", "validation", "test")] == [20, 5, 5]
    leaked = {**rows[3], "id": "leak"}
    write_jsonl(tmp_path / "test.jsonl", [*rows[25:], leaked])
    with pytest.raises(data_prep.DataError) as error:
        data_prep.prepare(str(tmp_path))
    assert "test.jsonl:6, field 'text': duplicate of" in str(error.value)
    assert "train.jsonl:4 (leaks between splits 'train' and 'test')" in str(error.value)


def test_split_directory_needs_all_three_files(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", good_rows(5))
    with pytest.raises(data_prep.DataError, match=r"validation\.jsonl .*train/validation/test"):
        data_prep.prepare(str(tmp_path))


def test_prepare_step_writes_splits_and_card_only_when_valid(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", good_rows())
    card = steps.prepare_step(str(good), str(tmp_path / "out"))
    written = data_prep.read_prepared(tmp_path / "out")
    assert sum(len(v) for v in written.values()) == 60
    assert json.loads((tmp_path / "out" / "data_card.json").read_text()) == card
    bad = write_jsonl(tmp_path / "bad.jsonl", [*good_rows(), "{"])
    with pytest.raises(data_prep.DataError):
        steps.prepare_step(str(bad), str(tmp_path / "out-bad"))
    assert not (tmp_path / "out-bad").exists()
