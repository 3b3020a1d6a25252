"""What each pipeline component does, as plain functions (testable without KFP).

The KFP components in pipeline.py are thin wrappers: they pass artifact paths and parameters
here. Each step reads its inputs from directories and writes its outputs to directories, the
shape KFP artifacts have both locally and on Vertex AI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines import data_prep

DATA_CARD = "data_card.json"
EVAL_FILE = "evaluation.json"


def prepare_step(dataset_uri: str, out_dir: str) -> dict[str, Any]:
    """Validate + split; writes the splits and the data card. Raises DataError naming line/field."""
    prepared = data_prep.prepare(dataset_uri)
    data_prep.write_prepared(prepared, Path(out_dir))
    for warning in prepared.warnings:
        print(f"WARNING: {warning}")
    return prepared.card


def train_step(prepared_dir: str, model_dir: str, params: dict[str, Any]) -> dict[str, float]:
    from pipelines.training import TrainConfig, train_model

    config = TrainConfig(**params)
    splits = data_prep.read_prepared(Path(prepared_dir))
    return train_model(splits, config, Path(model_dir))


def evaluate_step(prepared_dir: str, model_dir: str, out_dir: str | None = None) -> dict[str, Any]:
    """Held-out (test split) metrics, scored with the task module evals/ uses too."""
    from pipelines.training import evaluate, load_for_eval

    test = data_prep.read_prepared(Path(prepared_dir))["test"]
    result = evaluate(load_for_eval(Path(model_dir)), test)
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / EVAL_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def register_step(
    model_dir: str,
    data_card: dict[str, Any],
    evaluation: dict[str, Any],
    params: dict[str, Any],
    lineage: dict[str, str],
    registry_name: str,
    tracking_uri: str,
    min_eval_accuracy: float,
) -> dict[str, Any]:
    """Register in MLflow; `candidate` alias only when the held-out accuracy passes the gate."""
    from pipelines.registry import register_model

    passed = evaluation["accuracy"] >= min_eval_accuracy
    metrics = {
        "accuracy": evaluation["accuracy"],
        "format_validity": evaluation["format_validity"],
    }
    if evaluation.get("refusal_rate") is not None:
        metrics["refusal_rate"] = evaluation["refusal_rate"]
    lineage = {
        **lineage,
        "dataset_sha256": data_card["sha256"],
        "dataset_source": data_card["source"],
    }
    result = register_model(
        Path(model_dir), registry_name, metrics, params, lineage, passed, tracking_uri or None
    )
    return {
        **result,
        "metrics": metrics,
        "gate": {"min_eval_accuracy": min_eval_accuracy, "passed": passed},
        "dataset_sha256": data_card["sha256"],
    }
