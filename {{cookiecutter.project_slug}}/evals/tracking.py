"""Log an eval run to MLflow beside the registered model, when there is a tracking store.

Locally that is build/mlflow/mlflow.db (written by `make train`); `MLFLOW_TRACKING_URI` points
elsewhere. No store means nothing to log to: the eval still succeeds, and says so. A failure to
log is a warning, not a failed eval: summary.json and report.md are the evidence of record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.evidence import BUILD
from common.project import load_project

MLFLOW_DIR = BUILD / "mlflow"


def tracking_uri() -> str | None:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    db = MLFLOW_DIR / "mlflow.db"
    return f"sqlite:///{db}" if db.is_file() else None


def log_run(summary: dict[str, Any], files: list[Path]) -> str:
    """Log metrics, the manifest and the evidence files; return a one-line outcome."""
    uri = tracking_uri()
    if uri is None:
        db = MLFLOW_DIR / "mlflow.db"
        return f"MLflow: not logged (no tracking store at {db}; run `make train`)"
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        name = f"{load_project().model.registry_name}-evals"
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = None
            if uri.startswith("sqlite:///"):
                # Artifacts beside the database, as `make train` keeps them.
                location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
            experiment_id = client.create_experiment(name, artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
        manifest = summary["manifest"]
        model = manifest["model"]
        tags = {
            "git_sha": manifest["git_sha"],
            "model_name": model["served_model_name"],
            "model_version": model["model_version"],
            "model_digest": model.get("model_digest", ""),
            "prompt": f"{manifest['prompt']['name']}@{manifest['prompt']['version']}",
            "prompt_sha256": manifest["prompt"]["sha256"],
            "gate": summary["gate"]["verdict"],
            **{f"dataset.{k}.sha256": v["sha256"] for k, v in manifest["datasets"].items()},
        }
        run = client.create_run(experiment_id, tags=tags, run_name=f"eval-{model['model_version']}")
        run_id = run.info.run_id
        for key, value in manifest["decoding"].items():
            client.log_param(run_id, f"decoding.{key}", value)
        for key, metric in summary["metrics"].items():
            if metric["mean"] is not None:  # a judge metric no case could be scored on
                client.log_metric(run_id, key, metric["mean"])
        for path in files:
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
        return f"MLflow: logged run {run_id} in experiment '{name}' ({uri})"
    except Exception as error:  # logging is best effort; the files on disk are the record
        return (
            f"WARNING: MLflow logging failed ({type(error).__name__}: {error}); "
            "the results are on disk"
        )
