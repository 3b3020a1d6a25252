"""The shipped dataset: reproducible from its script, valid, balanced, no leakage."""

from __future__ import annotations

import json

from pipelines import data_prep, generate_dataset, task
from pipelines.generate_dataset import DEFAULT_OUT


def test_committed_file_is_exactly_what_the_script_writes(tmp_path):
    out = tmp_path / "intents.jsonl"
    generate_dataset.main(["--out", str(out)])
    assert out.read_bytes() == DEFAULT_OUT.read_bytes()


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
