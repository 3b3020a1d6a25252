"""`make plan [STACK=dev] [CONFIG=file]`: the real program under recording mocks, checked by the
policy pack, written as build/plan/<stack>.json (for machines) and .md (for reviewers).

The recording runs infra/__main__.py itself, the file the Pulumi CLI runs, so a resource declared
there is planned and checked like any other.

Exit codes: 0 planned (advisory findings allowed), 1 a mandatory policy is violated (the plan
files are still written, with the verdicts), 2 the stack or policy config is invalid (nothing
written).
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import infra.config
from common.evidence import BUILD, sha256_file, stamp, write_atomic, write_json
from infra.catalog import load_catalog
from infra.config import INFRA_DIR, ConfigError, StackConfig, load_stack_config, stack_file
from infra.recording import Recorded, record
from infra.stacks import stack_names
from policies.offline import (
    PolicyConfigError,
    Setting,
    Violation,
    config_file,
    evaluate,
    load_policy_config,
)
from policies.pricing import UnknownPriceError, load_prices, node_capacity
from policies.rules import POLICIES, PlanResource, gpu_pool_costs

PLAN_DIR = BUILD / "plan"
ENTRY_POINT = INFRA_DIR / "__main__.py"


def run_entry_point(cfg: StackConfig, entry_point: Path = ENTRY_POINT) -> None:
    """Run the CLI's entry point as `pulumi` does (a script named __main__), under the caller's
    mocks. Its stack config is `cfg`, already validated: `--config` may name another file than
    infra/Pulumi.<stack>.yaml, which is all the entry point knows how to find."""

    def load(stack: str, path: Path | None = None) -> StackConfig:
        if stack != cfg.stack:
            raise ConfigError(f"the entry point asked for stack {stack!r}, planning {cfg.stack!r}")
        return cfg

    saved_path = list(sys.path)  # the entry point puts the project root on sys.path
    try:
        with mock.patch.object(infra.config, "load_stack_config", load):
            runpy.run_path(str(entry_point), run_name="__main__")
    finally:
        sys.path[:] = saved_path


def record_stack(cfg: StackConfig, entry_point: Path = ENTRY_POINT) -> list[Recorded]:
    return record(
        cfg.project, cfg.stack, cfg.gcp.project_id, lambda: run_entry_point(cfg, entry_point)
    )


def resource_rows(recorded: list[Recorded]) -> list[dict[str, Any]]:
    names = {r.urn: r.name for r in recorded}
    types = {r.urn: r.type for r in recorded}
    # Registration order depends on threads; sort so two plans of the same code diff cleanly.
    return [
        {
            "type": r.type,
            "name": r.name,
            "parent": names.get(r.parent_urn),
            "parent_type": types.get(r.parent_urn),
            "custom": r.custom,
            "inputs": r.inputs,
        }
        for r in sorted(recorded, key=lambda r: (r.name, r.type))
    ]


def plan_document(
    cfg: StackConfig,
    config_path: Path,
    rows: list[dict[str, Any]],
    violations: list[Violation],
    settings: dict[str, Setting],
    costs: list[dict[str, Any]],
) -> dict[str, Any]:
    failed = {v.policy for v in violations}
    verdicts = [
        {
            "policy": p.name,
            "description": p.description,
            "level": settings[p.name].level,
            "params": settings[p.name].params,
            "verdict": "skipped"
            if settings[p.name].level == "disabled"
            else ("violated" if p.name in failed else "passed"),
        }
        for p in POLICIES
    ]
    mandatory = sum(1 for v in violations if v.level == "mandatory")
    return {
        "stamp": stamp(
            "infra.plan",
            stack=cfg.stack,
            config_file=str(config_path),
            config_sha256=sha256_file(config_path),
            gpu_catalog_as_of=load_catalog().as_of,
            price_table=load_prices().date,
        ),
        "project": cfg.project,
        "stack": cfg.stack,
        "environment": cfg.environment,
        "region": cfg.gcp.region,
        "summary": {
            "resources": len(rows),
            "components": sum(
                1 for r in rows if not r["custom"] and r["type"].startswith("llmops:")
            ),
            "by_type": dict(sorted(Counter(r["type"] for r in rows).items())),
            "gpu_monthly_usd_min": round(sum(c["monthly_usd_min"] for c in costs), 2),
            "gpu_monthly_usd_max": round(sum(c["monthly_usd_max"] or 0 for c in costs), 2),
            "violations_mandatory": mandatory,
            "violations_advisory": sum(1 for v in violations if v.level == "advisory"),
            "passed": mandatory == 0,
        },
        "gpu_pools": costs,
        "policies": verdicts,
        "violations": [v.as_dict() for v in violations],
        "resources": rows,
    }


def _brief(row: dict[str, Any]) -> str:
    """One line of the inputs a reviewer looks for first."""
    inputs = row["inputs"]
    config = inputs.get("nodeConfig") or {}
    parts = []
    if config.get("machineType"):
        parts.append(config["machineType"])
    for acc in config.get("guestAccelerators") or []:
        parts.append(f"{acc.get('count')} x {acc.get('type')}")
    if "spot" in config:
        parts.append(node_capacity(config))
    scaling = inputs.get("autoscaling") or {}
    if scaling:
        parts.append(
            f"nodes {scaling.get('totalMinNodeCount')}..{scaling.get('totalMaxNodeCount')}"
        )
    for key in ("role", "member", "service", "location", "ipCidrRange", "attributeCondition"):
        if inputs.get(key):
            parts.append(f"{key}={inputs[key]}")
    if inputs.get("defaultPartitionExpirationMs"):  # request logs: how long they are kept
        parts.append(f"kept {inputs['defaultPartitionExpirationMs'] / 86_400_000:g} days")
    if inputs.get("destination"):  # a log sink
        parts.append(f"to {inputs['destination']}")
    if inputs.get("name") and inputs["name"] != row["name"]:
        parts.insert(0, f"`{inputs['name']}`")
    return ", ".join(str(p) for p in parts).replace("|", "\\|")


def plan_markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    lines = [
        f"# Infrastructure plan: `{doc['project']}` stack `{doc['stack']}`",
        "",
        f"Region `{doc['region']}`, environment `{doc['environment']}`; {s['resources']}"
        f" resources in {s['components']} components. Recorded offline from the real Pulumi"
        " program under mocks"
        f" (git `{doc['stamp']['git_sha'][:12]}`, GPU catalog {doc['stamp']['gpu_catalog_as_of']},"
        f" prices {doc['stamp']['price_table']}).",
        "",
        f"**Policies: {'PASSED' if s['passed'] else 'FAILED'}** ({s['violations_mandatory']}"
        f" mandatory, {s['violations_advisory']} advisory violations)",
        "",
        "## GPU node pools",
        "",
        "| pool | machine | spot | nodes | $/node/month | $/month at min | $/month at max |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for c in doc["gpu_pools"]:
        lines.append(
            f"| {c['resource']} | {c['machine_type']} ({c['region']}) | {c['spot']} |"
            f" {c['min_nodes']}..{c['max_nodes']} | {c['monthly_usd_per_node']:,.0f} |"
            f" {c['monthly_usd_min']:,.0f} | {(c['monthly_usd_max'] or 0):,.0f} |"
        )
    lines += ["", "## Policy verdicts", "", "| policy | level | verdict |", "|---|---|---|"]
    for v in doc["policies"]:
        mark = {"passed": "pass", "violated": "**VIOLATED**", "skipped": "skipped"}[v["verdict"]]
        lines.append(f"| `{v['policy']}`: {v['description']} | {v['level']} | {mark} |")
    if doc["violations"]:
        lines += [
            "",
            "### Violations",
            "",
            "| level | policy | resource | message |",
            "|---|---|---|---|",
        ]
        for v in doc["violations"]:
            message = v["message"].replace("|", "\\|")
            lines.append(
                f"| {v['level']} | `{v['policy']}` | {v['resource'] or '(stack)'} | {message} |"
            )
    lines += ["", "## Resources by component", ""]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in doc["resources"]:
        groups.setdefault(row["parent"] or "(stack)", []).append(row)
    components = [r for r in doc["resources"] if not r["custom"]]
    for comp in [{"name": "(stack)", "type": "pulumi:pulumi:Stack"}, *components]:
        children = [r for r in groups.get(comp["name"], []) if r["custom"]]
        if not children:
            continue
        lines += [
            f"### {comp['name']} (`{comp['type']}`)",
            "",
            "| type | name | details |",
            "|---|---|---|",
        ]
        for row in children:
            lines.append(f"| `{row['type']}` | {row['name']} | {_brief(row)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run(stack: str, config: Path | None, policy_config: Path | None, out: Path) -> int:
    config_path = config or stack_file(stack)
    try:
        cfg = load_stack_config(stack, config_path)
        if policy_config is None and config_file(stack).exists():
            policy_config = config_file(stack)
        settings = load_policy_config(policy_config)
    except (ConfigError, PolicyConfigError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    rows = resource_rows(record_stack(cfg))
    resources = [PlanResource(r["type"], r["name"], r["inputs"]) for r in rows]
    violations = evaluate(resources, settings)
    try:
        costs = gpu_pool_costs(resources)
    except UnknownPriceError:
        costs = []  # reported by the budget policy
    doc = plan_document(cfg, config_path, rows, violations, settings, costs)
    write_json(out / f"{stack}.json", doc)
    write_atomic(out / f"{stack}.md", plan_markdown(doc))
    s = doc["summary"]
    print(
        f"plan {stack}: {s['resources']} resources in {s['components']} components;"
        f" GPU ${s['gpu_monthly_usd_min']:,.0f}-${s['gpu_monthly_usd_max']:,.0f}/month;"
        f" policies {'passed' if s['passed'] else 'FAILED'} ({s['violations_mandatory']} mandatory,"
        f" {s['violations_advisory']} advisory) -> {out / stack}.json, .md"
    )
    for v in violations:
        print(f"  [{v.level}] {v.policy}: {v.resource or '(stack)'}: {v.message}")
    if s["violations_mandatory"]:
        print(
            f"ERROR: stack {stack!r} violates mandatory policies:"
            f" {sorted({v.policy for v in violations if v.level == 'mandatory'})}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stack",
        action="append",
        help="stack to plan (repeat for several: one process pays the SDK imports once)",
    )
    parser.add_argument(
        "--config", type=Path, help="stack file (default infra/Pulumi.<stack>.yaml)"
    )
    parser.add_argument(
        "--policy-config", type=Path, help="policy config (default policies/config/<stack>.json)"
    )
    parser.add_argument(
        "--all-stacks",
        action="store_true",
        help="plan every stack with a file infra/Pulumi.<stack>.yaml (make plan-all)",
    )
    parser.add_argument("--out", type=Path, default=PLAN_DIR)
    args = parser.parse_args(argv)
    if args.all_stacks and args.stack:
        parser.error("--all-stacks plans every stack file; drop --stack")
    stacks = stack_names() if args.all_stacks else (args.stack or ["dev"])
    if not stacks:
        parser.error("no stack files infra/Pulumi.<stack>.yaml")
    if len(stacks) > 1 and (args.config or args.policy_config):
        parser.error("--config and --policy-config apply to a single --stack")
    return max(run(stack, args.config, args.policy_config, args.out) for stack in stacks)


if __name__ == "__main__":
    sys.exit(main())
