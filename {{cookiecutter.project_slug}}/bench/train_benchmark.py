"""Training stage times: prepare, model creation, training, save, evaluation, registration,
and (with --kfp) the same pipeline on the KFP local runner end to end.

    python bench/train_benchmark.py [--steps 300] [--kfp]     (env: pipelines; make bench-train)

Prints a table of wall and CPU seconds per stage. Figures depend on the machine's load: the
CPU column is the steadier one on a shared machine.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from pipelines import data_prep
from pipelines.generate_dataset import DEFAULT_OUT


def cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


class Stages:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    def run(self, name: str, func, note=lambda result: ""):
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = func()
        self.rows.append((name, time.perf_counter() - wall, cpu_seconds() - cpu, note(result)))
        print(f"  {name}: {self.rows[-1][1]:.1f} s", flush=True)
        return result

    def print(self) -> None:
        print(f"\n{'stage':<22}{'wall s':>9}{'cpu s':>9}  note")
        for name, wall, cpu, note in self.rows:
            print(f"{name:<22}{wall:>9.1f}{cpu:>9.1f}  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--kfp", action="store_true", help="also time the KFP local pipeline run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="train-bench-") as work:
        run(Path(work), args)
    return 0


def run(work: Path, args: argparse.Namespace) -> None:
    from pipelines.modeling import create_model, save_for_serving
    from pipelines.registry import register_model
    from pipelines.training import TrainConfig, evaluate, tokenizer_corpus, train

    stages = Stages()
    config = TrainConfig(steps=args.steps)
    print(f"==> training benchmark: {args.steps} steps, batch {config.batch_size}, work dir {work}")
    prepared = stages.run(
        "prepare (validate+split)",
        lambda: data_prep.prepare(str(DEFAULT_OUT)),
        lambda p: f"{p.card['records']} records",
    )
    train_split = prepared.splits["train"]
    corpus = tokenizer_corpus(train_split)
    bundle = stages.run(
        "create model",
        lambda: create_model(config.base_model, corpus, config.seed),
        lambda b: f"{sum(p.numel() for p in b.model.parameters()):,} parameters",
    )
    metrics = stages.run(
        "train",
        lambda: train(bundle, train_split, config, log=lambda _: None),
        lambda m: f"{args.steps / m['train_seconds']:.1f} steps/s, loss {m['train_loss']:.4f}",
    )
    stages.run("save (serving layout)", lambda: save_for_serving(bundle, work / "model"))
    result = stages.run(
        "evaluate (test split)",
        lambda: evaluate(bundle, prepared.splits["test"]),
        lambda r: f"accuracy {r['accuracy']:.3f}, {r['cases'] / r['eval_seconds']:.0f} cases/s",
    )
    stages.run(
        "register (MLflow)",
        lambda: register_model(
            work / "model",
            "bench-model",
            {"accuracy": result["accuracy"]},
            config.params(),
            {"git_sha": "bench", "pipeline_run": "bench"},
            True,
            f"sqlite:///{work / 'mlflow.db'}",
        ),
        lambda r: f"version {r['version']}",
    )
    if args.kfp:
        from pipelines import run_local

        stages.run(
            "kfp local pipeline",
            lambda: run_local.main(
                [
                    "--steps",
                    str(args.steps),
                    "--tracking-uri",
                    f"sqlite:///{work / 'kfp.db'}",
                    "--out",
                    str(work / "train"),
                    "--pipeline-root",
                    str(work / "runs"),
                ]
            ),
            lambda code: f"exit {code}, all four steps in subprocesses",
        )
    stages.print()
    print(f"train metrics: {metrics}")


if __name__ == "__main__":
    raise SystemExit(main())
