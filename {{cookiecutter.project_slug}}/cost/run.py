"""`make cost`: price a plan per resource, $ per token / request / user per GPU pool (roofline
bound, and the measured goodput when it ran on that GPU), hosted APIs beside, diff against a base.

    python -m cost.run [--stack dev] [--plan build/plan/dev.json | --preview preview.json]
                       [--load build/load/summary.json] [--base-plan base.json]
                       [--usage cost/usage.yaml] [--serving-nodes 1] [--out build/cost]

Writes OUT/summary.json and OUT/report.md. Exit 2 on a plan that is missing, not JSON or not a
plan, on an unknown machine type or region, on a bad usage file, or on an unreadable load summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from common.evidence import BUILD, read_json, sha256_file, stamp, write_atomic, write_json
from common.project import ROOT
from cost import estimate, report, tokens
from cost.plan import PlanError, load_plan
from cost.prices import Prices, UnknownPriceError
from cost.usage import USAGE_FILE, UsageError, load_usage
from infra.catalog import load_catalog
from serving.spec import SpecError, load_spec

DEFAULT_LOAD = BUILD / "load" / "summary.json"


def _load_summary(path: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """The load summary, or why there is none. Only the default path may be missing."""
    explicit = path is not None
    path = path or DEFAULT_LOAD
    if not path.exists() and not explicit:
        return (
            None,
            f"no load summary at {path}: run `make load` (or pass LOAD=) for measured figures",
        )
    load = read_json(path, "load summary")
    goodput = load.get("goodput", {}).get("output_tokens_per_s")
    if not isinstance(goodput, int | float):
        raise ValueError(f"load summary {path} has no goodput.output_tokens_per_s")
    return load, None


def _shown(path: Path) -> str:
    """A path as the report prints it: relative to the project when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def build(args: argparse.Namespace) -> dict[str, Any]:
    prices = Prices.load()
    usage = load_usage(args.usage)
    spec = load_spec()
    plan_path = args.preview or args.plan or BUILD / "plan" / f"{args.stack}.json"
    plan = load_plan(plan_path)
    priced = estimate.price_plan(plan, prices, usage.infra)
    load, skipped = _load_summary(args.load)
    summary: dict[str, Any] = {
        "stamp": stamp(
            "cost",
            price_tables=prices.stamp(),
            plan_sha256=plan.sha256,
            usage_sha256=sha256_file(args.usage),
            load_summary_sha256=sha256_file(args.load or DEFAULT_LOAD) if load else None,
        ),
        "stack": args.stack,
        "price_tables": prices.stamp(),
        "usage_file": _shown(args.usage),
        "plan": plan.as_dict(),
        "cost": priced,
        "tokens": tokens.token_cost(
            priced,
            load,
            usage,
            prices,
            load_catalog(),
            batch=spec.engine.max_num_seqs,
            gpu_memory_utilization=spec.gpu.gpu_memory_utilization,
            serving_nodes=args.serving_nodes,
        ),
        "tokens_skipped": skipped,
        "base_plan": None,
        "diff": None,
    }
    if args.base_plan:
        base = load_plan(args.base_plan)
        summary["base_plan"] = base.as_dict()
        summary["diff"] = estimate.diff(priced, estimate.price_plan(base, prices, usage.infra))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--plan", type=Path, help="offline plan JSON (default build/plan/STACK)")
    source.add_argument("--preview", type=Path, help="`pulumi preview --json` output")
    parser.add_argument("--load", type=Path, help="load summary (default build/load/summary.json)")
    parser.add_argument("--base-plan", type=Path, help="the base branch's plan, for the diff")
    parser.add_argument("--usage", type=Path, default=USAGE_FILE, help="usage profile YAML")
    parser.add_argument(
        "--serving-nodes",
        type=int,
        default=1,
        help="GPU nodes that together deliver the measured goodput",
    )
    parser.add_argument("--out", type=Path, default=BUILD / "cost")
    args = parser.parse_args(argv)
    if args.serving_nodes < 1:
        print(f"ERROR: --serving-nodes={args.serving_nodes}: must be at least 1", file=sys.stderr)
        return 2
    try:
        summary = build(args)
    except (
        PlanError,
        UnknownPriceError,
        UsageError,
        SpecError,
        FileNotFoundError,
        ValueError,
    ) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    # JSON first, Markdown second: each write is atomic, and the report is rendered before
    # anything is written so a rendering error leaves the previous result untouched.
    markdown = report.render(summary)
    write_json(args.out / "summary.json", summary)
    write_atomic(args.out / "report.md", markdown)
    cost = summary["cost"]
    print(
        f"==> {args.stack}: ${cost['monthly_min']:,.2f} to ${cost['monthly_max']:,.2f} per month"
        f" (prices of {', '.join(t['date'] for t in summary['price_tables'])})"
    )
    for warning in summary["tokens"]["warnings"]:
        print(warning, file=sys.stderr)
    for row in summary["tokens"]["pools"]:
        bound = row["roofline"].get("usd_per_million_output_tokens")
        value = row["usd_per_million_output_tokens"]
        print(
            f"    {row['pool']}: roofline "
            f"{'n/a' if bound is None else f'>= ${bound:,.4f}'} per 1M output tokens; measured "
            + (f"${value:,.4f}" if value is not None else f"not shown ({row['measured_hidden']})")
        )
    print(f"==> wrote {args.out}/summary.json and report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
