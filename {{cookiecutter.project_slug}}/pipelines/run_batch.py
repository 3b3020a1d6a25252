"""`make batch`: score a JSONL file on the KFP local runner with vLLM's offline engine.

    python -m pipelines.run_batch --input FILE|gs://... [--output DIR|gs://...] [--model REF]
                                  [--max-tokens 16] [--temperature 0]

The same pipeline Vertex AI runs (pipelines/batch_pipeline.py), executed here by
`kfp.local.SubprocessRunner` in this environment (`serving`: vLLM's CPU build plus kfp). The input
and the model are checked before anything starts. Writes OUTPUT/predictions.jsonl and
OUTPUT/summary.json (model version and digest, counts, throughput). Exit codes: 0 scored,
2 bad input or model (every bad line named; nothing written), 3 the run failed (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.evidence import BUILD
from pipelines.batch import BatchInputError, check_lengths, read_requests, resolve
from pipelines.task import MAX_ANSWER_TOKENS
from serving.spec import SpecError, load_spec

OUT_DIR = BUILD / "batch"
PIPELINE_ROOT = BUILD / "pipelines" / "batch-runs"


def absolute(uri: str) -> str:
    """Local paths made absolute (the step runs in another process); gs:// kept."""
    return uri if "://" in uri else str(Path(uri).resolve())


def run_pipeline(arguments: dict, pipeline_root: Path = PIPELINE_ROOT) -> dict:
    """Run the batch pipeline locally; returns the step's summary."""
    from pipelines.batch_pipeline import batch_pipeline
    from pipelines.pipeline import init_local_runner

    init_local_runner(pipeline_root, "batch-workspace")
    return json.loads(batch_pipeline(**arguments).output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="JSONL file or gs://BUCKET/PATH")
    parser.add_argument("--output", default=str(OUT_DIR), help="directory or gs://BUCKET/PREFIX")
    parser.add_argument("--model", default="", help="alias, version, directory or gs:// version")
    parser.add_argument("--max-tokens", type=int, default=MAX_ANSWER_TOKENS)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--pipeline-root", type=Path, default=PIPELINE_ROOT)
    args = parser.parse_args(argv)
    # Fail fast, naming every bad line, before the engine or any component starts.
    try:
        spec = load_spec()
        model = args.model or spec.model.ref
        if args.max_tokens < 1 or args.temperature < 0:
            raise BatchInputError("--max-tokens must be >= 1 and --temperature >= 0")
        requests, _ = read_requests(args.input)
        resolved = resolve(model)
        check_lengths(requests, Path(resolved["model_dir"]), spec.engine.max_model_len)
    except (BatchInputError, SpecError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    print(
        f"==> batch (KFP local runner, vllm.LLM): {len(requests)} requests, model "
        f"{model} (version {resolved['model_version']}, {resolved['model_digest'][:19]})"
    )
    arguments = {
        "input_uri": absolute(args.input),
        "output_uri": absolute(args.output),
        "model": absolute(model) if Path(model).exists() else model,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
    }
    try:
        summary = run_pipeline(arguments, args.pipeline_root)
    except Exception as error:  # the failing task's log is printed above by the runner
        print(f"ERROR: batch pipeline failed: {error}", file=sys.stderr)
        return 3
    counts, rate = summary["counts"], summary["throughput"]
    print(
        f"==> scored {counts['requests']} requests ({counts['completion_tokens']} output "
        f"tokens, finish {counts['finish_reasons']}) in {rate['seconds']:.2f} s: "
        f"{rate['requests_per_s']} requests/s, {rate['output_tokens_per_s']} output tokens/s\n"
        f"    predictions: {summary['outputs']['predictions']}\n"
        f"    summary:     {summary['outputs']['summary']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
