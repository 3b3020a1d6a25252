"""Fixtures for the pipelines tests (run in the `pipelines` environment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import data_prep
from pipelines.generate_dataset import DEFAULT_OUT as DATASET


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def splits() -> dict[str, list[dict]]:
    return data_prep.prepare(str(DATASET)).splits


@pytest.fixture(scope="session")
def small_splits(splits) -> dict[str, list[dict]]:
    """A slice of every split: enough to exercise the code, fast on one core."""
    return {name: records[:: 10 if name == "train" else 6] for name, records in splits.items()}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, small_splits) -> Path:
    """A barely trained embedded model saved in the serving layout (seconds, not minutes)."""
    from pipelines.training import TrainConfig, train_model

    out = tmp_path_factory.mktemp("tiny") / "model"
    train_model(small_splits, TrainConfig(steps=5, batch_size=8), out, log=lambda _: None)
    return out
