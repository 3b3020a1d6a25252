"""The shipped dataset: reproducible from its script, valid, balanced, no leakage."""

from __future__ import annotations

import json

import pytest

from pipelines import data_prep, generate_dataset, task
from pipelines.generate_dataset import DEFAULT_OUT

V2 = DEFAULT_OUT.with_name("intents-v2.jsonl")


@pytest.mark.parametrize(("version", "committed"), [("1", DEFAULT_OUT), ("2", V2)])
def test_committed_file_is_exactly_what_the_script_writes(tmp_path, version, committed):
    out = tmp_path / "intents.jsonl"
    generate_dataset.main(["--out", str(out), "--version", version])
    assert out.read_bytes() == committed.read_bytes()


def test_version_2_adds_wording_and_hazard_categories_without_dropping_any():
    v1, v2 = (
        [r for split in data_prep.prepare(str(path)).splits.values() for r in split]
        for path in (DEFAULT_OUT, V2)
    )
    categories = {r["meta"]["category"] for r in v2 if r["intent"] == task.UNSAFE_LABEL}
    assert categories > {r["meta"]["category"] for r in v1 if r["intent"] == task.UNSAFE_LABEL}
    assert len(categories) == 14
    assert len(v2) == len(v1) and {r["text"] for r in v2} != {r["text"] for r in v1}
    with pytest.raises(ValueError, match="expected 1 or 2"):
        generate_dataset.generate(10, version=3)


def test_generation_depends_on_the_seed():
    assert generate_dataset.generate(20, seed=1) != generate_dataset.generate(20, seed=2)


def test_dataset_is_valid_and_balanced(splits):
    card = data_prep.prepare(str(DEFAULT_OUT)).card
    assert card["records"] == 3600
    assert set(card["splits"]) == {"train", "validation", "test"}
    for name, split in card["splits"].items():
        assert set(split["labels"]) == set(task.LABELS), name
        assert min(split["labels"].values()) >= 20, name
    assert len(card["sha256"]) == 64


def test_no_message_is_in_two_splits(splits):
    keys = {name: {task.normalise_text(r["text"]) for r in rs} for name, rs in splits.items()}
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]


def test_unsafe_rows_carry_a_hazard_category():
    rows = [json.loads(line) for line in DEFAULT_OUT.read_text().splitlines()]
    unsafe = [r for r in rows if r["intent"] == task.UNSAFE_LABEL]
    assert unsafe and all(r["meta"]["category"].startswith("S") for r in unsafe)
