"""Submission: the Vertex AI job (built, never submitted) and the KFP endpoint run arguments.

The post-generation hook removes the submitter the project does not use, so each test module
part skips when its submitter is absent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.project import load_project
from pipelines.pipeline import compile_pipeline

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 7, 30, 3, 0, 0, tzinfo=dt.UTC)
needs_vertex = pytest.mark.skipif(
    not (ROOT / "pipelines" / "submit_vertex.py").exists(), reason="project uses a KFP endpoint"
)
needs_kfp = pytest.mark.skipif(
    not (ROOT / "pipelines" / "submit_kfp.py").exists(), reason="project uses Vertex AI"
)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("spec") / "training_pipeline.yaml")


@needs_vertex
def test_vertex_job_arguments(spec, monkeypatch):
    from pipelines import submit_vertex

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    project = load_project()
    args = submit_vertex.parse_args(["--spec", str(spec), "--stack", "staging", "--steps", "50"])
    arguments = submit_vertex.job_arguments(args, now=NOW)
    job = arguments["job"]
    slug, gcp_project = project.project.slug, project.gcp.project_id
    assert job["project"] == gcp_project and job["location"] == project.gcp.region
    assert job["job_id"] == f"{slug}-train-20260730-030000"
    assert (
        job["pipeline_root"].startswith(f"gs://{gcp_project}-")
        and "-stg-pipelines/runs" in job["pipeline_root"]
    )
    assert job["enable_caching"] is True
    values = job["parameter_values"]
    assert values["train_steps"] == 50 and values["registry_name"] == project.model.registry_name
    assert values["tracking_uri"] == "https://mlflow.example.com"
    assert values["base_model"] == project.model.base_model
    assert job["labels"]["stack"] == "staging" and job["labels"]["trigger"] == "manual"
    assert all(len(v) <= 63 and v == v.lower() for v in job["labels"].values())
    account = arguments["submit"]["service_account"]
    assert account.endswith(f"@{gcp_project}.iam.gserviceaccount.com")
    assert account.split("@")[0].endswith("-pipelines") and len(account.split("@")[0]) <= 30
    assert arguments["schedule"] is None


@needs_vertex
def test_vertex_pipeline_job_is_built_without_a_network_call(spec, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    from pipelines import submit_vertex

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    args = submit_vertex.parse_args(
        ["--spec", str(spec), "--no-cache", "--schedule", "0 3 * * 1", "--trigger", "schedule"]
    )
    arguments = submit_vertex.job_arguments(args, now=NOW)
    job = submit_vertex.build_job(arguments, credentials=AnonymousCredentials())
    resource = job._gca_resource
    assert resource.display_name == f"{load_project().project.slug}-training"
    assert resource.runtime_config.gcs_output_directory == arguments["job"]["pipeline_root"]
    assert resource.labels["trigger"] == "schedule"
    runtime = resource.runtime_config.parameter_values
    assert runtime["train_steps"] == 300 and runtime["dataset_uri"].startswith("gs://")
    tasks = resource.pipeline_spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"prepare", "train", "evaluate", "register"}
    # --no-cache turns caching off for every task, overriding the compiled setting.
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())
    assert arguments["schedule"]["cron"] == "0 3 * * 1"


@needs_vertex
def test_vertex_submission_refuses_without_a_tracking_server(spec, monkeypatch, capsys):
    from pipelines import submit_vertex

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert submit_vertex.main(["--spec", str(spec), "--dry-run"]) == 2
    assert "MLFLOW_TRACKING_URI" in capsys.readouterr().err
    assert submit_vertex.main(["--spec", "missing.yaml", "--dry-run"]) == 2


@needs_kfp
def test_kfp_run_arguments(spec, monkeypatch):
    import argparse

    from pipelines import submit_kfp

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.kubeflow:5000")
    args = argparse.Namespace(
        spec=spec,
        endpoint="https://kfp.example.com",
        seed=1,
        steps=10,
        dataset="gs://b/d.jsonl",
        tracking_uri="",
        schedule="",
        no_cache=False,
    )
    arguments = submit_kfp.run_arguments(args, now=NOW)
    assert arguments["host"] == "https://kfp.example.com"
    run = arguments["run"]
    assert run["pipeline_file"] == str(spec) and run["enable_caching"] is True
    assert run["arguments"]["dataset_uri"] == "gs://b/d.jsonl" and run["arguments"]["seed"] == 1
    args.dataset = ""
    with pytest.raises(ValueError, match="no training data URI"):
        submit_kfp.run_arguments(args)


def test_make_pipeline_submit_picks_the_projects_orchestrator():
    vertex = (ROOT / "pipelines" / "submit_vertex.py").exists()
    extra = "--stack prod" if vertex else "--dataset gs://bucket/data.jsonl"
    env = {**os.environ, "MLFLOW_TRACKING_URI": "https://mlflow.example.com"}
    result = subprocess.run(
        ["make", "-s", "pipeline-submit", f"SUBMIT_ARGS=--dry-run {extra}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout[result.stdout.index("{") :])
    if vertex:
        assert document["job"]["labels"]["stack"] == "prod"
    else:
        assert document["host"] == load_project().training.kfp_endpoint
    assert (ROOT / "build" / "pipelines" / "training_pipeline.yaml").is_file()


@needs_vertex
def test_vertex_stacks_are_the_stack_files(capsys):
    from infra.stacks import stack_names
    from pipelines import submit_vertex

    for stack in stack_names():
        assert submit_vertex.parse_args(["--stack", stack]).stack == stack
    with pytest.raises(SystemExit):
        submit_vertex.parse_args(["--stack", "no-such-stack"])
    assert "invalid choice" in capsys.readouterr().err


@needs_vertex
def test_vertex_submit_accepts_a_stack_added_by_the_recipe(spec, tmp_path):
    """infra/README.md "Add a stack": the stack file alone makes `--stack qa` valid, and the job
    names the bucket and identity the infra program creates from that file."""
    from recipes import add_stack, copy_project

    root = copy_project(tmp_path / "project")
    gcp_project = load_project().gcp.project_id
    add_stack(root, "qa", "qa", **{gcp_project: "my-llmops-qa"})
    command = ["pipelines.submit_vertex", "--spec", str(spec), "--stack", "qa", "--dry-run"]
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "MLFLOW_TRACKING_URI": "https://m.example"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    arguments = json.loads(result.stdout)
    assert arguments["job"]["project"] == "my-llmops-qa"
    assert arguments["job"]["pipeline_root"].startswith("gs://my-llmops-qa-")
    assert arguments["job"]["labels"]["stack"] == "qa"
    assert arguments["submit"]["service_account"].endswith("@my-llmops-qa.iam.gserviceaccount.com")
