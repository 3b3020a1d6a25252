"""`make test-model`: a small trained model for other components' end-to-end tests.

    python -m pipelines.test_model [--out build/test-model] [--steps 150] [--seed 42] [--force]

Trains the embedded tiny Llama directly with the model code (no KFP, no MLflow) on version 2
of the default dataset and saves it where vLLM loads it. Cached: skipped when the directory
exists and its inputs (dataset, model code, settings, library versions) are unchanged. Writes
`<out>/training_summary.json` (metrics, inputs hash) beside the model files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from pipelines import data_prep
from pipelines.generate_dataset import DEFAULT_OUT

# Data v2: its wider wording gives the small model a clear margin above chance on the goldens,
# which the evals e2e test relies on.
DEFAULT_DATASET = DEFAULT_OUT.with_name("intents-v2.jsonl")

PACKAGE = Path(__file__).resolve().parent
DEFAULT_DIR = PACKAGE.parent / "build" / "test-model"
DEFAULT_GUARD_DIR = PACKAGE.parent / "build" / "test-guard"
SUMMARY = "training_summary.json"
CODE = ("task.py", "data_prep.py", "modeling.py", "training.py", "test_model.py")


def inputs_hash(dataset: Path, steps: int, seed: int, guard: bool = False) -> str:
    import tokenizers
    import torch
    import transformers

    digest = hashlib.sha256()
    digest.update(dataset.read_bytes())
    for name in (*CODE, "guard.py") if guard else CODE:
        digest.update((PACKAGE / name).read_bytes())
    versions = (torch.__version__, transformers.__version__, tokenizers.__version__)
    digest.update(json.dumps([steps, seed, *versions]).encode())
    return digest.hexdigest()[:16]


def cached(out: Path, want: str) -> bool:
    try:
        summary = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        return False
    return summary.get("inputs_hash") == want and (out / "model.safetensors").exists()


def build(out: Path, dataset: Path, steps: int, seed: int) -> dict:
    from pipelines.training import (
        TrainConfig,
        evaluate,
        load_for_eval,
        read_training_host,
        train_model,
    )

    started = time.perf_counter()
    prepared = data_prep.prepare(str(dataset))
    config = TrainConfig(seed=seed, steps=steps)
    metrics = train_model(prepared.splits, config, out, log=lambda m: print(f"  {m}", flush=True))
    evaluation = evaluate(load_for_eval(out), prepared.splits["test"])
    return {
        "inputs_hash": inputs_hash(dataset, steps, seed),
        "dataset_sha256": prepared.card["sha256"],
        "params": config.params(),
        "train": metrics,
        "test": {k: v for k, v in evaluation.items() if k != "examples"},
        "training_host": read_training_host(out),
        "seconds": time.perf_counter() - started,
    }


def build_guard(out: Path, dataset: Path, steps: int, seed: int) -> dict:
    from pipelines.guard import train_guard
    from pipelines.training import TrainConfig, read_training_host

    started = time.perf_counter()
    prepared = data_prep.prepare(str(dataset))
    config = TrainConfig(seed=seed, steps=steps)
    metrics = train_guard(prepared.splits, config, out)
    return {
        "inputs_hash": inputs_hash(dataset, steps, seed, guard=True),
        "dataset_sha256": prepared.card["sha256"],
        "params": config.params(),
        "train": metrics,
        "training_host": read_training_host(out),
        "seconds": time.perf_counter() - started,
    }


def main_guard(args: argparse.Namespace) -> int:
    """`make test-guard`: the small output-side guard (pipelines/guard.py), cached the same way."""
    out = args.out if args.out != DEFAULT_DIR else DEFAULT_GUARD_DIR
    want = inputs_hash(args.dataset, args.steps, args.seed, guard=True)
    if not args.force and cached(out, want):
        print(f"test guard up to date: {out} (inputs {want})")
        return 0
    print(f"==> training the test guard ({args.steps} steps) into {out}")
    try:
        summary = build_guard(out, args.dataset, args.steps, args.seed)
    except (data_prep.DataError, ValueError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    train = summary["train"]
    print(
        f"test guard ready: {out}\n  held-out recall: unsafe {train['guard_unsafe_recall']:.3f},"
        f" safe {train['guard_safe_recall']:.3f} (exact verdicts {train['guard_exact']:.3f}, "
        f"{train['guard_cases']:.0f} conversations), {summary['seconds']:.0f} s"
    )
    if train["guard_balanced_accuracy"] < 0.75:
        print("ERROR: the test guard is not clearly better than always 'safe'", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the small model other tests serve.")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--force", action="store_true", help="retrain even when cached")
    parser.add_argument("--guard", action="store_true", help="the output-side guard instead")
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        print(f"ERROR: dataset not found: {args.dataset}", file=sys.stderr)
        return 2
    if args.guard:
        return main_guard(args)
    want = inputs_hash(args.dataset, args.steps, args.seed)
    if not args.force and cached(args.out, want):
        print(f"test model up to date: {args.out} (inputs {want})")
        return 0
    print(f"==> training the test model ({args.steps} steps) into {args.out}")
    try:
        summary = build(args.out, args.dataset, args.steps, args.seed)
    except (data_prep.DataError, ValueError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    (args.out / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    test = summary["test"]
    print(
        f"test model ready: {args.out}\n"
        f"  test accuracy {test['accuracy']:.3f} (chance {test['chance_accuracy']:.3f}), "
        f"format validity {test['format_validity']:.3f}, {summary['seconds']:.0f} s"
    )
    if test["accuracy"] < 2 * test["chance_accuracy"]:
        print("ERROR: the test model is not clearly above chance", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
