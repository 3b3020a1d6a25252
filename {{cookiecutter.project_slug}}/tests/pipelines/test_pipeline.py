"""The KFP pipeline: compiled spec structure, and the step functions behind the components."""

from __future__ import annotations

import yaml

from pipelines import steps
from pipelines.pipeline import TRAINING_IMAGE, compile_pipeline


def test_compiled_spec_has_the_four_steps_and_parameters(tmp_path):
    spec = yaml.safe_load(compile_pipeline(tmp_path / "p.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "llmops-training"
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"prepare", "train", "evaluate", "register"}
    assert tasks["train"]["dependentTasks"] == ["prepare"]
    assert set(tasks["evaluate"]["dependentTasks"]) == {"prepare", "train"}
    assert set(tasks["register"]["dependentTasks"]) == {"prepare", "train", "evaluate"}
    # Registration is a side effect: it must never be served from the cache.
    assert tasks["register"]["cachingOptions"] == {}
    assert tasks["train"]["cachingOptions"] == {"enableCache": True}
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "dataset_uri",
        "registry_name",
        "tracking_uri",
        "base_model",
        "seed",
        "train_steps",
        "batch_size",
        "learning_rate",
        "min_eval_accuracy",
        "git_sha",
    }
    assert params["base_model"]["defaultValue"] == "embedded-tiny-llama"
    assert params["seed"]["parameterType"] == "NUMBER_INTEGER"
    assert "defaultValue" not in params["dataset_uri"]
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 4
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == TRAINING_IMAGE
        # The image holds the code and kfp: no pip install at step start.
        assert "pip install" not in " ".join(container["command"])
    train_resources = executors["exec-train"]["container"]["resources"]
    assert train_resources["cpuLimit"] == 4.0


def test_register_step_applies_the_accuracy_gate(tmp_path, tiny_model_dir):
    card = {"sha256": "a" * 64, "source": "data.jsonl"}
    common = {
        "model_dir": str(tiny_model_dir),
        "data_card": card,
        "params": {"steps": 1},
        "lineage": {"git_sha": "abc", "pipeline_run": "r1"},
        "registry_name": "gate-model",
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "min_eval_accuracy": 0.5,
    }
    low = steps.register_step(
        evaluation={"accuracy": 0.2, "format_validity": 1.0, "refusal_rate": None}, **common
    )
    assert low["gate"] == {"min_eval_accuracy": 0.5, "passed": False}
    assert low["aliases"] == [] and "refusal_rate" not in low["metrics"]
    high = steps.register_step(
        evaluation={"accuracy": 0.8, "format_validity": 1.0, "refusal_rate": 1.0}, **common
    )
    assert high["gate"]["passed"] and high["aliases"] == ["candidate", "champion"]
    assert high["dataset_sha256"] == "a" * 64


def test_evaluate_step_scores_the_test_split(tmp_path, tiny_model_dir, small_splits):
    from pipelines import data_prep
    from pipelines.data_prep import Prepared

    data_prep.write_prepared(Prepared(small_splits, {"sha256": "x"}), tmp_path / "data")
    result = steps.evaluate_step(str(tmp_path / "data"), str(tiny_model_dir), str(tmp_path / "ev"))
    assert result["cases"] == len(small_splits["test"])
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["format_validity"] <= 1
    assert (tmp_path / "ev" / steps.EVAL_FILE).is_file()
