"""End to end on the real engines: the KFP local runner and MLflow on SQLite."""

from __future__ import annotations

import json

import pytest

from pipelines import registry, run_local
from pipelines.training import load_for_eval, predict

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def cli_args(tmp_path, *extra: str) -> list[str]:
    return [
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
        "--out",
        str(tmp_path / "train"),
        "--pipeline-root",
        str(tmp_path / "runs"),
        *extra,
    ]


def test_local_pipeline_run_registers_a_servable_model(tmp_path, capsys):
    code = run_local.main(cli_args(tmp_path, "--steps", "60"))
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "train" / "summary.json").read_text())
    registration = summary["registration"]
    assert code == (0 if registration["gate"]["passed"] else 1)
    assert registration["version"] == "1"
    assert f"registered {registration['name']} version 1" in out and "model dir:" in out
    assert summary["stamp"]["dataset_sha256"] == summary["dataset_sha256"]
    assert (tmp_path / "train" / "report.md").read_text().startswith("## Training")
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    model = registry.resolve_model(registration["version"], uri, registration["name"])
    assert model.tags["pipeline_run"].startswith("llmops-training-")
    assert model.tags["dataset_sha256"] == summary["dataset_sha256"]
    assert json.loads(model.tags["params"])["steps"] == 60
    assert (model.path / "model.safetensors").is_file()
    assert str(model.path).startswith(str(tmp_path / "mlflow" / "artifacts"))
    answers = predict(load_for_eval(model.path), ["where is my order #A1043"])
    assert len(answers) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--base-model", "nonexistent-org/nonexistent-model-xyz"], "cannot be loaded"),
        (["--base-model", "no such model"], "unknown base model"),
        (["--base-model", "champion"], "no model registry at"),
        (["--dataset", "missing.jsonl"], "dataset file not found: missing.jsonl"),
    ],
)
def test_bad_inputs_are_refused_before_the_pipeline_runs(tmp_path, capsys, extra, message):
    assert run_local.main(cli_args(tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "mlflow").exists(), "nothing may be registered"
    assert not (tmp_path / "runs").exists()


def test_malformed_dataset_is_refused_with_line_and_field(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"id": "1", "text": "hi", "intent": "billing"}\n{"id": "2", "text": 5}\n')
    assert run_local.main(cli_args(tmp_path, "--dataset", str(data))) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2, field 'text': expected str, got int" in err
    assert "bad.jsonl:2, field 'intent': missing" in err
    assert not (tmp_path / "mlflow").exists()
