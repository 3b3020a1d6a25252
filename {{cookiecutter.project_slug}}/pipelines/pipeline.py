"""The training pipeline (KFP v2): prepare -> train -> evaluate -> register.

Each component is a thin wrapper around pipelines.steps, run from the training image (which holds
this project's code) on Vertex AI / Kubeflow, and in this environment by the KFP local runner.
Compile: `python -m pipelines.pipeline --out build/pipelines/training_pipeline.yaml`.
"""

import argparse
import os
from pathlib import Path
from typing import NamedTuple

from kfp import compiler, dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from common.project import load_project

PIPELINE_NAME = "llmops-training"


def default_image(stack: str = "dev", tag: str = "latest", name: str = "training") -> str:
    """The training image (pipelines/Dockerfile), or another of the project's images, in the
    stack's Artifact Registry repository (infra/storage.py names it `<slug>-<stack>-images`)."""
    project = load_project()
    registry = f"{project.gcp.region}-docker.pkg.dev/{project.gcp.project_id}"
    return f"{registry}/{project.project.slug}-{stack}-images/{name}:{tag}"


# Workflows build the image, tag it with the git SHA and compile with TRAINING_IMAGE set to it.
TRAINING_IMAGE = os.environ.get("TRAINING_IMAGE") or default_image()


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def prepare(dataset_uri: str, prepared: Output[Dataset]) -> NamedTuple(
    "PrepareOutputs", [("dataset_sha256", str), ("data_card", str)]
):
    """Validate the dataset (schema, types, duplicates, leakage) and split it."""
    import json
    from collections import namedtuple

    from pipelines.steps import prepare_step

    card = prepare_step(dataset_uri, prepared.path)
    prepared.metadata.update({"sha256": card["sha256"], "records": card["records"]})
    outputs = namedtuple("PrepareOutputs", ["dataset_sha256", "data_card"])
    return outputs(card["sha256"], json.dumps(card))


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def train(
    prepared: Input[Dataset],
    base_model: str,
    seed: int,
    train_steps: int,
    batch_size: int,
    learning_rate: float,
    model: Output[Model],
    metrics: Output[Metrics],
) -> str:
    """Train the embedded model from scratch, or a real base model with LoRA (merged)."""
    import json

    from pipelines.steps import train_step

    params = {
        "base_model": base_model,
        "seed": seed,
        "steps": train_steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
    }
    result = train_step(prepared.path, model.path, params)
    for name, value in result.items():
        metrics.log_metric(name, value)
    model.metadata.update({"base_model": base_model, "framework": "transformers"})
    return json.dumps(params)


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def evaluate(
    prepared: Input[Dataset],
    model: Input[Model],
    metrics: Output[Metrics],
    report: Output[Artifact],
) -> str:
    """Held-out metrics on the test split, scored with pipelines.task (shared with evals/)."""
    import json

    from pipelines.steps import evaluate_step

    result = evaluate_step(prepared.path, model.path, report.path)
    for name in ("accuracy", "format_validity", "refusal_rate"):
        if result.get(name) is not None:
            metrics.log_metric(name, result[name])
    return json.dumps({k: v for k, v in result.items() if k != "examples"})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    data_card: str,
    evaluation: str,
    params: str,
    git_sha: str,
    pipeline_run: str,
    registry_name: str,
    tracking_uri: str,
    min_eval_accuracy: float,
) -> str:
    """MLflow registration with lineage; alias `candidate` only past the accuracy gate."""
    import json

    from pipelines.steps import register_step

    result = register_step(
        model.path,
        json.loads(data_card),
        json.loads(evaluation),
        json.loads(params),
        {"git_sha": git_sha, "pipeline_run": pipeline_run, "params": params},
        registry_name,
        tracking_uri,
        min_eval_accuracy,
    )
    print(f"registered {result['name']} version {result['version']} aliases {result['aliases']}")
    return json.dumps(result)


@dsl.pipeline(name=PIPELINE_NAME, description="prepare -> train -> evaluate -> register")
def training_pipeline(
    dataset_uri: str,
    registry_name: str,
    tracking_uri: str,
    base_model: str = "embedded-tiny-llama",
    seed: int = 42,
    train_steps: int = 300,
    batch_size: int = 32,
    learning_rate: float = 0.003,
    min_eval_accuracy: float = 0.5,
    git_sha: str = "unknown",
) -> str:
    prepared = prepare(dataset_uri=dataset_uri).set_display_name("prepare data")
    trained = train(
        prepared=prepared.outputs["prepared"],
        base_model=base_model,
        seed=seed,
        train_steps=train_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
    ).set_display_name("train")
    # Real base models need a GPU on Vertex AI; the embedded one trains on CPU in minutes.
    trained.set_cpu_limit("4").set_memory_limit("16G")
    evaluated = evaluate(
        prepared=prepared.outputs["prepared"], model=trained.outputs["model"]
    ).set_display_name("evaluate")
    registered = register(
        model=trained.outputs["model"],
        data_card=prepared.outputs["data_card"],
        evaluation=evaluated.outputs["Output"],
        params=trained.outputs["Output"],
        git_sha=git_sha,
        pipeline_run=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        registry_name=registry_name,
        tracking_uri=tracking_uri,
        min_eval_accuracy=min_eval_accuracy,
    ).set_display_name("register")
    registered.set_caching_options(False)  # registration is a side effect: never reuse it
    return registered.output


def compile_pipeline(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(training_pipeline, package_path=str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile the training pipeline to IR YAML.")
    parser.add_argument("--out", type=Path, default=Path("build/pipelines/training_pipeline.yaml"))
    args = parser.parse_args(argv)
    print(f"compiled {compile_pipeline(args.out)} (image {TRAINING_IMAGE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def init_local_runner(pipeline_root: Path, workspace: str) -> None:
    """KFP's local runner in this environment (make train, make batch). The steps name their
    images; locally they run here, with the same code and lock. KFP warns about that; it is
    intended."""
    import warnings

    from kfp import local

    pipeline_root.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message=".*non-Python base image", category=RuntimeWarning)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        workspace_root=str(pipeline_root.parent / workspace),
        raise_on_error=True,
    )
