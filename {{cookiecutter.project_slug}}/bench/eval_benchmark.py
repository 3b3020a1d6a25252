"""Eval throughput: cases per second at a few concurrency levels, and the cached re-run time.

    python bench/eval_benchmark.py [--endpoint http://HOST:PORT/v1] [--levels 1,4,16]
    make bench-evals [ENDPOINT=...]

Runs the shipped suite (no judge) against a live endpoint (default: the local `stable` server
from `make serve`). Each level runs with the response cache off, so every case is a real call;
then one cold run fills a scratch cache and a second run reads it. Nothing is written under
build/ (the scratch cache is a temporary directory).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.cache import ResponseCache  # noqa: E402
from evals.client import EndpointError, ModelClient, resolve_target  # noqa: E402
from evals.runner import run_suite  # noqa: E402
from evals.suite import load_suite  # noqa: E402


def timed(suite, client, cache, concurrency: int) -> tuple[float, dict]:
    started = time.perf_counter()
    summary = run_suite(suite, client, cache, judges=None, concurrency=concurrency)
    return time.perf_counter() - started, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--levels", default="1,4,16", help="comma-separated concurrency levels")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    suite = load_suite()
    try:
        target = resolve_target(args.endpoint or None)
    except EndpointError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    client = ModelClient(target, suite.config.runner.timeout_s, suite.config.runner.retries)
    cases = sum(len(d.cases) for d in suite.datasets)
    print(f"eval benchmark: {cases} cases, {target.served_model_name} at {target.endpoint}")
    print(f"{'concurrency':>12} {'seconds':>9} {'cases/s':>9} {'label_acc':>10}")
    timed(suite, client, ResponseCache(enabled=False), levels[0])  # warm-up, not reported
    for level in levels:
        seconds, summary = timed(suite, client, ResponseCache(enabled=False), level)
        accuracy = summary["metrics"]["label_accuracy"]["mean"]
        print(f"{level:>12} {seconds:>9.2f} {cases / seconds:>9.1f} {accuracy:>10.3f}")
    with tempfile.TemporaryDirectory(prefix="eval-bench-cache-") as scratch:
        cache = ResponseCache(Path(scratch))
        cold, first = timed(suite, client, cache, max(levels))
        warm, second = timed(suite, client, cache, max(levels))
    same = first["cases"] == second["cases"] and first["metrics"] == second["metrics"]
    print(
        f"cache: cold run {cold:.2f} s, cached re-run {warm:.2f} s "
        f"({cold / warm:.0f}x faster, {second['run']['cached']}/{cases} cached, "
        f"identical results: {same})"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
