"""`make pipeline-submit` for an existing Kubeflow Pipelines endpoint (llmops.yaml kfp_endpoint).

    python -m pipelines.submit_kfp --spec build/pipelines/training_pipeline.yaml \
        [--seed 42] [--steps 300] [--dataset gs://...] [--schedule "0 0 3 * * 1"] [--dry-run]

Auth: kfp.Client uses KF_PIPELINES_SA_TOKEN_PATH / an in-cluster token, or KFP_EXISTING_TOKEN for
a bearer token. MLFLOW_TRACKING_URI names the registry the register step writes to.
This module is removed from projects that chose Vertex AI Pipelines (submit_vertex.py instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from common.evidence import git_sha
from common.project import load_project
from policies.gates import load_gates


def run_arguments(args: argparse.Namespace, now: dt.datetime | None = None) -> dict[str, Any]:
    """What kfp.Client receives; pure, so tests check it without a server."""
    project = load_project()
    endpoint = args.endpoint or project.training.kfp_endpoint
    if not endpoint:
        raise ValueError(
            "no Kubeflow Pipelines endpoint: set training.kfp_endpoint in llmops.yaml "
            "or pass --endpoint"
        )
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not tracking_uri:
        raise ValueError("no MLflow tracking URI for the register step: set MLFLOW_TRACKING_URI")
    if not args.dataset:
        raise ValueError("no training data URI: pass --dataset gs://... (or s3://, a PVC path)")
    now = now or dt.datetime.now(dt.UTC)
    return {
        "host": endpoint,
        "run": {
            "pipeline_file": str(args.spec),
            "run_name": f"{project.project.slug}-train-{now:%Y%m%d-%H%M%S}",
            "experiment_name": f"{project.project.slug}-training",
            "enable_caching": not args.no_cache,
            "arguments": {
                "dataset_uri": args.dataset,
                "registry_name": project.model.registry_name,
                "tracking_uri": tracking_uri,
                "base_model": project.model.base_model,
                "seed": args.seed,
                "train_steps": args.steps,
                "min_eval_accuracy": load_gates().training.min_eval_accuracy,
                "git_sha": git_sha(),
            },
        },
        "schedule": args.schedule or None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Submit the training pipeline to a KFP endpoint.")
    parser.add_argument("--spec", type=Path, default=Path("build/pipelines/training_pipeline.yaml"))
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dataset", default=os.environ.get("PIPELINE_DATASET", ""))
    parser.add_argument("--tracking-uri", default="")
    parser.add_argument("--schedule", default="", help="6-field cron: create a recurring run")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="print the run, call no API")
    parser.add_argument("--stack", default="dev", help="accepted for symmetry with Vertex")
    parser.add_argument("--trigger", default="manual")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(
            f"ERROR: no compiled pipeline at {args.spec}: run `make pipeline-compile`",
            file=sys.stderr,
        )
        return 2
    try:
        arguments = run_arguments(args)
    except ValueError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(arguments, indent=2))
        return 0
    import kfp

    client = kfp.Client(host=arguments["host"], existing_token=os.environ.get("KFP_EXISTING_TOKEN"))
    run = arguments["run"]
    if arguments["schedule"]:
        experiment = client.create_experiment(run["experiment_name"])
        job = client.create_recurring_run(
            experiment_id=experiment.experiment_id,
            job_name=run["run_name"],
            cron_expression=arguments["schedule"],
            max_concurrency=1,
            pipeline_package_path=run["pipeline_file"],
            params=run["arguments"],
            enable_caching=run["enable_caching"],
        )
        print(f"created recurring run {job.recurring_run_id} ({arguments['schedule']})")
        return 0
    result = client.create_run_from_pipeline_package(**run)
    print(f"submitted run {result.run_id} to {arguments['host']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
