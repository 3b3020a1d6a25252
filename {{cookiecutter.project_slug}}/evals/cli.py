"""Command line: `python -m evals.cli run` (make eval), `... compare` (make eval-compare) and
`... flips` (make eval-flips: N uncached runs, the answer flip rate per dataset).

Exit codes: 0 the gate passed, 1 the gate failed, 2 the eval could not run (bad dataset, prompt or
suite, unknown metric, dead endpoint); the message says what and where. Outputs are written only
after a complete run, atomically; a failed run first removes the previous run's files so no stale
result is read as the new one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from common.contracts import ContractError, EvalCompare, EvalSummary
from common.evidence import BUILD, read_json, stamp, write_atomic, write_json
from evals.cache import CACHE_DIR, ResponseCache
from evals.client import EndpointError, ModelClient, resolve_target
from evals.compare import compare
from evals.gate import compare_gate, run_gate
from evals.goldens import DatasetError
from evals.judge import ENV_PREFIX, JUDGE_KINDS, judge_from_env, resolve_judge
from evals.metrics import UnknownMetricError
from evals.prompting import PromptError
from evals.report import compare_report, run_report
from evals.runner import judged_metrics, run_suite
from evals.suite import SUITE_FILE, SuiteError, load_suite
from policies.gates import GatesError, load_gates

DEFAULT_OUT = BUILD / "eval"
INPUT_ERRORS = (
    DatasetError,
    PromptError,
    SuiteError,
    UnknownMetricError,
    EndpointError,
    GatesError,
    FileNotFoundError,
    ValueError,
)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", type=Path, default=SUITE_FILE)
    parser.add_argument("--prompt", default=None, help="prompt folder under evals/prompts/")
    parser.add_argument("--model-version", default=None, help="version of the served model")
    parser.add_argument("--model", default=None, help="served model name (default: the first)")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--no-cache", action="store_true", help="always ask the model")


def evaluate(endpoint: str | None, args: argparse.Namespace, judged: bool = True) -> dict[str, Any]:
    """Run the suite on one endpoint and gate the result (no files written)."""
    suite = load_suite(args.suite, args.prompt)
    gates = load_gates().eval
    settings = suite.config.runner
    judges = {}
    for kind in JUDGE_KINDS if judged else ():
        config = judge_from_env(suite.decoding.seed, kind=kind)
        if config is not None and judged_metrics(suite, kind):
            judges[kind] = resolve_judge(config, settings.retries)
    target = resolve_target(endpoint, args.model_version, args.model)
    note = "on"
    if args.no_cache:
        note = "off (--no-cache)"
    elif not target.version_known:
        note = "off (model version unknown: pass MODEL_VERSION= to cache answers)"
    cache = ResponseCache(args.cache_dir, enabled=note == "on")
    print(
        f"==> eval: {target.served_model_name} (version {target.model_version}) "
        f"at {target.endpoint}, "
        f"prompt {suite.prompt.name} v{suite.prompt.version}, "
        f"{sum(len(d.cases) for d in suite.datasets)} cases, cache {note}",
        flush=True,
    )
    for kind, judge in sorted(judges.items()):
        prefix = ENV_PREFIX[kind]
        judge_cached = not args.no_cache and judge.version_known
        print(
            f"==> {prefix.lower()}: {judge.model} (version "
            f"{dict(judge.identity)['model_version']}) at {judge.endpoint}, "
            f"cache {'on' if judge_cached else 'off'}"
            + (
                "" if judge_cached or args.no_cache else f" (pass {prefix}_MODEL_VERSION= to cache)"
            ),
            flush=True,
        )
    judge_cache = ResponseCache(args.cache_dir, enabled=not args.no_cache)
    client = ModelClient(target, settings.timeout_s, settings.retries)
    summary = run_suite(suite, client, cache, judges, args.concurrency, note, judge_cache)
    summary["gate"] = run_gate(summary, gates)
    summary["stamp"] = stamp(
        "evals",
        model_version=target.model_version,
        prompt_sha256=suite.prompt.sha256,
        dataset_sha256={d.name: d.sha256 for d in suite.datasets},
        decoding=suite.decoding.model_dump(),
    )
    return summary


def write_run(summary: dict[str, Any], out: Path) -> list[Path]:
    EvalSummary.read(summary, "the eval summary about to be written")  # the readers' contract
    files = [write_json(out / "summary.json", summary)]
    files.append(write_atomic(out / "report.md", run_report(summary)))
    return files


def _clear(out: Path, names: tuple[str, ...]) -> None:
    for name in names:
        (out / name).unlink(missing_ok=True)


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _clear(out, ("summary.json", "report.md"))
    summary = evaluate(args.endpoint or None, args)
    files = write_run(summary, out)
    if not args.no_mlflow:
        from evals.tracking import log_run

        print(log_run(summary, files))
    _print_run(summary, out)
    return 0 if summary["gate"]["passed"] else 1


def _print_run(summary: dict[str, Any], out: Path) -> None:
    for name, metric in sorted(summary["metrics"].items()):
        mean = "n/a" if metric["mean"] is None else f"{metric['mean']:.3f}"
        print(f"  {name:<18} {mean}  (n={metric['n']})")
    for name, notice in sorted(summary["skipped_metrics"].items()):
        print(f"  {name:<18} {notice}")
    run = summary["run"]
    print(
        f"==> eval {summary['gate']['verdict'].upper()}: {run['cases']} cases "
        f"({run['cached']} cached) in {run['seconds']:.1f} s; "
        f"{out / 'summary.json'}, {out / 'report.md'}"
    )
    for failure in summary["gate"]["failed"]:
        print(f"  gate failed: {failure}")


def _side(ref: str, label: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """A stored summary.json, or an endpoint to evaluate now (saved under OUT/<label>/)."""
    if ref.startswith(("http://", "https://")):
        summary = evaluate(ref, args)
        write_run(summary, out / label)
        return summary
    summary = read_json(Path(ref), f"{label} eval summary")
    try:
        EvalSummary.read(summary, f"{ref}")
    except ContractError as error:
        raise ValueError(
            f"{ref} is not an eval summary ({error}); "
            "pass a summary.json from `make eval` or an endpoint URL"
        ) from None
    return summary


def cmd_compare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _clear(out, ("compare.json", "compare.md"))
    gates = load_gates().eval
    suite = load_suite(args.suite, args.prompt)
    base = _side(args.base, "base", args, out)
    head = _side(args.head, "head", args, out)
    boot = suite.config.bootstrap
    comparison = compare(base, head, gates, boot.resamples, boot.seed)
    gate = compare_gate(comparison, head, gates)
    result = {
        "stamp": stamp("evals.compare", base=args.base, head=args.head),
        "comparison": comparison,
        "gate": gate,
        "skipped_metrics": head.get("skipped_metrics", {}),
    }
    EvalCompare.read(result, "the comparison about to be written")  # the readers' contract
    write_json(out / "compare.json", result)
    write_atomic(out / "compare.md", compare_report(result))
    for name, m in sorted(comparison["metrics"].items()):
        if "delta" in m:
            print(
                f"  {name:<18} {m['base']:.3f} -> {m['head']:.3f}  ({m['delta']:+.3f}, "
                f"CI [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}], n={m['n']}) {m['outcome']}"
            )
    flips = comparison["flipped"]
    print(
        f"==> eval-compare {gate['verdict'].upper()}: {comparison['paired_cases']} paired cases, "
        f"{len(flips['regressions'])} regressed, {len(flips['improvements'])} improved; "
        f"{out / 'compare.json'}, {out / 'compare.md'}"
    )
    for failure in gate["failed"]:
        print(f"  gate failed: {failure}")
    return 0 if gate["passed"] else 1


def flip_rates(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset: the cases whose answer was not the same in every run, and their share."""
    first = summaries[0]["cases"]
    rows: dict[str, dict[str, Any]] = {}
    for index, case in enumerate(first):
        answers = {s["cases"][index]["output"] for s in summaries}
        row = rows.setdefault(case["dataset"], {"cases": 0, "flipped": 0, "examples": []})
        row["cases"] += 1
        if len(answers) > 1:
            row["flipped"] += 1
            if len(row["examples"]) < 5:
                row["examples"].append({"key": case["key"], "answers": sorted(answers)})
    for row in rows.values():
        row["flip_rate"] = round(row["flipped"] / row["cases"], 6)
    return rows


def cmd_flips(args: argparse.Namespace) -> int:
    """`make eval-flips N=3`: the suite N times without the cache; answer flip rate per dataset."""
    if args.runs < 2:
        raise ValueError(f"N={args.runs}: flips need at least 2 runs (make eval-flips N=3)")
    out = Path(args.out)
    _clear(out, ("flips.json",))
    args.no_cache = True
    summaries = []
    for run in range(args.runs):
        print(f"==> run {run + 1} of {args.runs}", flush=True)
        summaries.append(evaluate(args.endpoint or None, args, judged=False))
    rates = flip_rates(summaries)
    result = {
        "stamp": stamp("evals.flips", runs=args.runs),
        "model": summaries[0]["manifest"]["model"],
        "runs": args.runs,
        "datasets": rates,
    }
    write_json(out / "flips.json", result)
    for name, row in sorted(rates.items()):
        print(
            f"  {name:<12} {row['flipped']:>4} of {row['cases']:>4} answers flipped "
            f"({row['flip_rate']:.1%})"
        )
    print(f"==> eval-flips: {args.runs} uncached runs; {out / 'flips.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evals", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="evaluate one endpoint and gate the result")
    run.add_argument("--endpoint", default="", help="OpenAI-compatible base URL ending in /v1")
    run.add_argument("--out", default=str(DEFAULT_OUT))
    run.add_argument("--no-mlflow", action="store_true")
    _add_run_options(run)
    comp = commands.add_parser("compare", help="base versus head on the same cases")
    comp.add_argument("--base", required=True, help="summary.json or endpoint URL")
    comp.add_argument("--head", required=True, help="summary.json or endpoint URL")
    comp.add_argument("--out", default=str(DEFAULT_OUT))
    _add_run_options(comp)
    flips = commands.add_parser("flips", help="N uncached runs: answer flip rate per dataset")
    flips.add_argument("--endpoint", default="", help="OpenAI-compatible base URL ending in /v1")
    flips.add_argument("--runs", type=int, default=3)
    flips.add_argument("--out", default=str(DEFAULT_OUT))
    _add_run_options(flips)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    commands_by_name = {"run": cmd_run, "compare": cmd_compare, "flips": cmd_flips}
    try:
        code = commands_by_name[args.command](args)
    except INPUT_ERRORS as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    if args.command == "compare":
        print(f"    ({time.perf_counter() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
