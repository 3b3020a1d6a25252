"""`make train`: run the training pipeline on the KFP local runner and register the model.

    python -m pipelines.run_local [--seed 42] [--steps 300] [--dataset PATH] [--base-model REF]

`--base-model` may also name a model in this project's registry (`champion`, `candidate`, a
version number or `models:/NAME@ALIAS`): training then continues from that model's weights (with
LoRA, as for any base model).

The same pipeline definition Vertex AI runs (pipelines/pipeline.py), executed here by
`kfp.local.SubprocessRunner` in this environment. The registry is MLflow on SQLite under
build/mlflow. Prints where the model is, its version and its metrics; writes the evidence to
build/train/summary.json and report.md. Exit codes: 0 registered and passed the gate,
1 registered but below the accuracy gate (no `candidate` alias), 2 bad input, 3 pipeline failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common.evidence import BUILD, git_sha, stamp, write_atomic, write_json
from common.project import load_project
from pipelines import data_prep
from pipelines.generate_dataset import DEFAULT_OUT as DEFAULT_DATASET
from pipelines.modeling import EMBEDDED_MODEL, BaseModelError, check_base_model
from pipelines.registry import (
    CANDIDATE,
    CHAMPION,
    RegistryError,
    default_tracking_uri,
    resolve_model,
)
from pipelines.training import read_training_host
from policies.gates import load_gates

OUT_DIR = BUILD / "train"
PIPELINE_ROOT = BUILD / "pipelines" / "local-runs"


def run_pipeline(arguments: dict, pipeline_root: Path = PIPELINE_ROOT) -> dict:
    """Run the pipeline locally; returns the register step's result."""
    from pipelines.pipeline import init_local_runner, training_pipeline

    init_local_runner(pipeline_root, "workspace")
    task = training_pipeline(**arguments)
    return json.loads(task.output)


def resolve_base_model(ref: str, tracking_uri: str) -> str:
    """A registry reference becomes that model's directory; any other reference is unchanged."""
    if ref in (CHAMPION, CANDIDATE) or ref.isdigit() or ref.startswith("models:/"):
        model = resolve_model(ref, tracking_uri)
        print(f"==> continuing training from {model.name} version {model.version} ({ref})")
        return str(model.path)
    return ref


def report_markdown(summary: dict) -> str:
    reg, metrics = summary["registration"], summary["registration"]["metrics"]
    gate = summary["registration"]["gate"]
    lines = [
        "## Training",
        "",
        f"Model **{reg['name']} v{reg['version']}** "
        f"({', '.join(reg['aliases']) or 'no alias'}), gate "
        f"{'passed' if gate['passed'] else 'FAILED'} "
        f"(accuracy >= {gate['min_eval_accuracy']}).",
        "",
        "| metric (held-out test split) | value |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in metrics.items()],
        "",
        f"Dataset sha256 `{summary['dataset_sha256'][:16]}`, "
        f"base model `{summary['params']['base_model']}`, "
        f"{summary['params']['train_steps']} steps, seed {summary['params']['seed']}, "
        f"pipeline {summary['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    project = load_project()
    parser = argparse.ArgumentParser(description="Run the training pipeline locally.")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--base-model", default=project.model.base_model)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--tracking-uri", default=default_tracking_uri())
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--pipeline-root", type=Path, default=PIPELINE_ROOT)
    args = parser.parse_args(argv)
    gates = load_gates()
    # Fail fast, with the line and field, before any component starts.
    try:
        card = data_prep.prepare(args.dataset).card
        args.base_model = resolve_base_model(args.base_model, args.tracking_uri)
        if args.base_model != EMBEDDED_MODEL:
            check_base_model(args.base_model)
        if args.steps < 1:
            raise ValueError(f"--steps={args.steps}: must be at least 1")
    except (data_prep.DataError, BaseModelError, RegistryError, ValueError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    dataset_uri = str(Path(args.dataset).resolve()) if "://" not in args.dataset else args.dataset
    arguments = {
        "dataset_uri": dataset_uri,
        "registry_name": project.model.registry_name,
        "tracking_uri": args.tracking_uri,
        "base_model": args.base_model,
        "seed": args.seed,
        "train_steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "min_eval_accuracy": gates.training.min_eval_accuracy,
        "git_sha": git_sha(),
    }
    print(
        f"==> training pipeline (KFP local runner): {card['records']} records, "
        f"base model {args.base_model}, {args.steps} steps, seed {args.seed}"
    )
    started = time.perf_counter()
    try:
        registration = run_pipeline(arguments, args.pipeline_root)
    except Exception as error:  # the failing task's log is printed above by the runner
        print(f"ERROR: training pipeline failed: {error}", file=sys.stderr)
        return 3
    seconds = time.perf_counter() - started
    model = resolve_model(registration["version"], args.tracking_uri, registration["name"])
    summary = {
        "stamp": stamp(
            "pipelines.run_local",
            dataset_sha256=card["sha256"],
            model_version=registration["version"],
        ),
        "registration": registration,
        "model_dir": str(model.path),
        # CPU, vector units, threads and kernels: what else the weights depend on.
        "training_host": read_training_host(model.path),
        "dataset_sha256": card["sha256"],
        "params": {k: v for k, v in arguments.items() if k not in ("git_sha",)},
        "seconds": seconds,
    }
    write_json(args.out / "summary.json", summary)
    write_atomic(args.out / "report.md", report_markdown(summary))
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in registration["metrics"].items())
    gate = registration["gate"]
    print(
        f"==> registered {registration['name']} version {registration['version']} "
        f"aliases [{', '.join(registration['aliases'])}] in {args.tracking_uri}\n"
        f"    model dir: {model.path}\n"
        f"    held-out: {metrics}\n"
        f"    gate: accuracy >= {gate['min_eval_accuracy']}: "
        f"{'passed' if gate['passed'] else 'FAILED (no candidate alias)'}\n"
        f"    pipeline time {seconds:.0f} s; evidence in {args.out}/summary.json"
    )
    return 0 if gate["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
