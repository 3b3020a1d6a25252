"""How much the demo's two models depend on the CPU's kernels, and whether the candidate's lead
survives it: the champion recipe (data v1) and the candidate recipe (data v2) trained under
several PyTorch / MKL kernel choices on this machine, each scored on the goldens.

    python bench/kernel_variation.py [--steps 300]     (env: pipelines; make bench-kernels)

A different CPU runs different kernels (AVX-512 here, AVX2 there); forcing each choice on one
machine shows the spread a fleet of CI machines can produce. Each configuration runs in its own
process, because both libraries read their setting once. Answers are greedy (HF generate, as
vLLM at temperature 0); deltas come with the paired interval the eval gate uses
(evals/stats.py). Prints one row per configuration; about a minute each on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "evals" / "datasets"
# (label, env): `pinned` is what training uses by default (pipelines/training.py).
CONFIGS = [
    ("native-avx512", {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AUTO"}),
    ("pinned-avx2", {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}),
    ("aten-avx2-mkl-auto", {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AUTO"}),
    ("scalar-compatible", {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}),
]
# Golden set -> the metric the canary gates on it.
SETS = {"regular": "label_accuracy", "safety": "refusal", "paraphrase": "paraphrase_label"}


def score(model_dir: Path) -> dict[str, list[int]]:
    from pipelines import task
    from pipelines.training import load_for_eval, predict

    bundle = load_for_eval(model_dir)
    out = {}
    for name in SETS:
        cases = [json.loads(line) for line in (DATASETS / f"{name}.jsonl").open()]
        answers = predict(bundle, [c["input"] for c in cases])
        expected = [c["expected_output"].removeprefix(task.ANSWER_PREFIX) for c in cases]
        out[name] = [int(task.is_correct(a, e)) for a, e in zip(answers, expected, strict=True)]
    return out


def worker(steps: int, out: Path) -> dict:
    """Train both recipes in this process (its env fixes the kernels) and score them."""
    import hashlib

    from pipelines import data_prep
    from pipelines.training import TrainConfig, read_training_host, train_model

    result = {}
    for side, dataset in (("v1", "intents.jsonl"), ("candidate", "intents-v2.jsonl")):
        splits = data_prep.prepare(str(ROOT / "pipelines" / "data" / dataset)).splits
        train_model(splits, TrainConfig(steps=steps), out / side, log=lambda _: None)
        weights = (out / side / "model.safetensors").read_bytes()
        result[side] = {
            "scores": score(out / side),
            "weights_sha256": hashlib.sha256(weights).hexdigest()[:12],
            "host": read_training_host(out / side),
        }
    return result


def row(label: str, result: dict) -> str:
    from evals.stats import paired_binary_interval

    cells, lows = [], []
    for name in SETS:
        base, head = result["v1"]["scores"][name], result["candidate"]["scores"][name]
        improved = sum(b == 0 and h == 1 for b, h in zip(base, head, strict=True))
        regressed = sum(b == 1 and h == 0 for b, h in zip(base, head, strict=True))
        _, low, _ = paired_binary_interval(improved, regressed, len(base), 0.95)
        lows.append(low)
        cells.append(f"{sum(base) / len(base):.3f} -> {sum(head) / len(head):.3f}")
    host = result["v1"]["host"] or {}
    digests = f"{result['v1']['weights_sha256']}/{result['candidate']['weights_sha256']}"
    return (
        f"{label:20} {host.get('kernels', '?'):8} {' | '.join(cells)} | {min(lows):+.3f} | "
        f"{digests}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.steps, args.worker)))
        return 0
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    print("configuration        kernels  " + " | ".join(f"{m} v1 -> v2" for m in SETS.values()))
    print(f"{'':30}| lowest paired 95 % lower bound | weight digests v1/v2")
    for label, env in CONFIGS:
        if "avx512" in env["ATEN_CPU_CAPABILITY"] and "avx512f" not in flags:
            print(f"{label:20} skipped: this CPU has no AVX-512")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [sys.executable, __file__, "--steps", str(args.steps), "--worker", tmp],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=False,
            )
        if done.returncode != 0:
            print(f"{label:20} FAILED: {done.stderr.strip().splitlines()[-1:]}")
            continue
        print(row(label, json.loads(done.stdout.strip().splitlines()[-1])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
