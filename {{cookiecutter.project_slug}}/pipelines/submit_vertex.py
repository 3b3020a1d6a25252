"""`make pipeline-submit` for Vertex AI Pipelines: run (or schedule) the compiled pipeline.

    python -m pipelines.submit_vertex --spec build/pipelines/training_pipeline.yaml \
        [--stack dev] [--seed 42] [--steps 300] [--dataset gs://...] [--schedule "0 3 * * 1"] \
        [--no-cache] [--wait] [--dry-run]

Settings come from llmops.yaml (slug, base model), the stack file infra/Pulumi.<stack>.yaml (GCP
project, region, environment: `--stack` accepts every stack that has a file) and these flags /
environment variables: PIPELINE_ROOT (gs:// bucket for artifacts), PIPELINE_SERVICE_ACCOUNT (the
identity the steps run as), PIPELINE_DATASET (training data, gs://), MLFLOW_TRACKING_URI (the
registry the register step writes to). `--dry-run` prints the job arguments without calling any API.
This module is removed from projects that chose the Kubeflow endpoint (submit_kfp.py instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from common.evidence import git_sha
from common.project import load_project
from infra.config import load_stack_config
from infra.naming import bucket_name, fit
from infra.stacks import stack_names
from policies.gates import load_gates


def _label(value: str) -> str:
    """GCP label values: lower-case letters, digits, - and _, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def default_settings(stack: str) -> dict[str, str]:
    """The pipeline bucket and service account the infra program creates for a stack
    (same stack file and naming functions as infra/vertex.py and infra/identity.py)."""
    cfg = load_stack_config(stack)
    gcp_project = cfg.gcp.project_id
    bucket = bucket_name(gcp_project, cfg.project, cfg.environment, "pipelines")
    account = fit(cfg.prefix, "pipelines", 30)
    return {
        "project": gcp_project,
        "location": cfg.gcp.region,
        "pipeline_root": f"gs://{bucket}/runs",
        "service_account": f"{account}@{gcp_project}.iam.gserviceaccount.com",
        "dataset_uri": f"gs://{bucket}/data/intents.jsonl",
    }


def job_arguments(args: argparse.Namespace, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything PipelineJob(...) and submit(...) receive; pure, so tests check it offline."""
    project = load_project()
    defaults = default_settings(args.stack)
    sha = git_sha()
    now = now or dt.datetime.now(dt.UTC)
    job_id = f"{project.project.slug}-train-{now:%Y%m%d-%H%M%S}"
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not tracking_uri:
        raise ValueError(
            "no MLflow tracking URI for the register step: set MLFLOW_TRACKING_URI or "
            "--tracking-uri (a tracking server the pipeline service account can reach)"
        )
    return {
        "job": {
            "display_name": f"{project.project.slug}-training",
            "template_path": str(args.spec),
            "job_id": job_id,
            "pipeline_root": args.pipeline_root
            or os.environ.get("PIPELINE_ROOT", defaults["pipeline_root"]),
            "parameter_values": {
                "dataset_uri": args.dataset
                or os.environ.get("PIPELINE_DATASET", defaults["dataset_uri"]),
                "registry_name": project.model.registry_name,
                "tracking_uri": tracking_uri,
                "base_model": project.model.base_model,
                "seed": args.seed,
                "train_steps": args.steps,
                "min_eval_accuracy": load_gates().training.min_eval_accuracy,
                "git_sha": sha,
            },
            "enable_caching": not args.no_cache,
            "labels": {
                "team": _label(project.labels.team),
                "cost-center": _label(project.labels.cost_center),
                "app": _label(project.project.slug),
                "stack": _label(args.stack),
                "git-sha": _label(sha[:12]),
                "trigger": _label(args.trigger),
            },
            "project": defaults["project"],
            "location": defaults["location"],
        },
        "submit": {
            "service_account": args.service_account
            or os.environ.get("PIPELINE_SERVICE_ACCOUNT", defaults["service_account"]),
        },
        "schedule": {"cron": args.schedule, "display_name": f"{project.project.slug}-training-cron"}
        if args.schedule
        else None,
    }


def build_job(arguments: dict[str, Any], credentials: Any = None) -> Any:
    """The PipelineJob object; constructing it calls no API."""
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(**arguments["job"], credentials=credentials)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Submit the training pipeline to Vertex AI.")
    parser.add_argument("--spec", type=Path, default=Path("build/pipelines/training_pipeline.yaml"))
    parser.add_argument("--stack", choices=stack_names(), default="dev")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dataset", default="", help="gs:// JSONL file or split directory")
    parser.add_argument("--pipeline-root", default="")
    parser.add_argument("--service-account", default="")
    parser.add_argument("--tracking-uri", default="")
    parser.add_argument("--schedule", default="", help="cron: create a Vertex schedule instead")
    parser.add_argument("--trigger", default="manual", help="label: manual, schedule, new-data")
    parser.add_argument("--no-cache", action="store_true", help="disable step caching")
    parser.add_argument("--wait", action="store_true", help="block until the run finishes")
    parser.add_argument("--dry-run", action="store_true", help="print the job, call no API")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.spec.is_file():
        print(
            f"ERROR: no compiled pipeline at {args.spec}: run `make pipeline-compile`",
            file=sys.stderr,
        )
        return 2
    try:
        arguments = job_arguments(args)
    except ValueError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(arguments, indent=2))
        return 0
    job = build_job(arguments)
    if arguments["schedule"]:
        schedule = job.create_schedule(
            cron=arguments["schedule"]["cron"],
            display_name=arguments["schedule"]["display_name"],
            max_concurrent_run_count=1,
            service_account=arguments["submit"]["service_account"],
        )
        print(f"created schedule {schedule.resource_name} ({arguments['schedule']['cron']})")
        return 0
    job.submit(service_account=arguments["submit"]["service_account"])
    print(f"submitted {job.resource_name}\n  console: {job._dashboard_uri()}")
    if args.wait:
        job.wait()
        print(f"finished: {job.state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
