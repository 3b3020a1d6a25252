"""`make canary`: step the candidate's weight while the gate passes, then promote or roll back.

    python -m release.canary --backend local|gke [--stack prod --candidate REF] [--gates FILE]

Writes build/canary/decision.json and decision.md (verdict, reason, every check of every step,
the thresholds used). Exit 0 when promoted, 1 when rolled back or refused, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from common.evidence import BUILD, stamp, write_atomic, write_json
from policies.gates import GATES_FILE, Gates, GatesError, load_gates
from release import state as sm
from release.backends import Backend, GkeBackend, LocalBackend, Runner
from release.gate import evaluate_step

OUT = BUILD / "canary"


def run_canary(backend: Backend, gates: Gates, out: Path) -> dict[str, Any]:
    """Drive the state machine with a backend; always returns a decision (never raises)."""
    canary = sm.start(gates.canary.steps)
    decision: dict[str, Any] = {"backend": backend.name, "steps_planned": list(canary.steps)}
    try:
        decision["models"] = backend.prepare()
    except Exception as error:  # a canary that cannot start is refused, with the reason
        backend.cleanup()
        return {
            **decision,
            "verdict": "refused",
            "reason": f"could not start the canary: {error}",
            "steps": [],
            "action": "not promoted; the canary never took traffic (weight 0)",
        }
    try:
        while not canary.done:
            weight = canary.weight
            print(f"==> canary step {weight}%: setting weight and measuring", flush=True)
            backend.set_weight(weight)
            result = evaluate_step(backend.measure(weight, out / f"step-{weight:03d}"), gates)
            canary = sm.advance(canary, result)
            print(
                f"    step {weight}%: {'passed' if result.passed else 'FAILED'}"
                + ("" if result.passed else f" ({canary.reason})"),
                flush=True,
            )
        if canary.phase is sm.Phase.PROMOTE:
            action = backend.promote()
            verdict = "promoted"
        else:
            action = backend.rollback()
            verdict = "rolled_back"
        reason = canary.reason
    except Exception as error:  # anything unexpected: roll back, say why
        reason = f"canary aborted: {error}"
        verdict = "rolled_back"
        try:
            action = backend.rollback()
        except Exception as rollback_error:
            action = f"ROLLBACK FAILED: {rollback_error}; check the deployment by hand"
    finally:
        backend.cleanup()
    return {
        **decision,
        "verdict": verdict,
        "reason": reason,
        "action": action,
        "steps": [result.to_dict() for result in canary.history],
    }


def render_markdown(decision: dict[str, Any]) -> str:
    icon = {"promoted": "✅", "rolled_back": "⛔", "refused": "⛔"}.get(decision["verdict"], "?")
    lines = [
        f"### Canary: {icon} {decision['verdict'].replace('_', ' ')}",
        "",
        f"**Reason:** {decision['reason']}  ",
        f"**Action:** {decision.get('action', '')}  ",
        f"**Backend:** `{decision['backend']}`; steps planned: "
        + " → ".join(f"{w}%" for w in decision.get("steps_planned", [])),
        "",
    ]
    models = decision.get("models") or {}
    if models and all(isinstance(v, dict) for v in models.values()):
        lines += ["| side | model version | endpoint |", "|---|---|---|"]
        lines += [
            f"| {side} | {info.get('model_version', '?')} | `{info.get('endpoint', '?')}` |"
            for side, info in models.items()
        ]
        lines.append("")
    for step in decision.get("steps", []):
        lines += [
            f"#### Step {step['weight']}%: {'passed' if step['passed'] else 'FAILED'}",
            "",
            "| check | result | detail |",
            "|---|---|---|",
        ]
        lines += [
            f"| `{c['name']}` | {'pass' if c['passed'] else '**FAIL**'} | {c['detail']} |"
            for c in step["checks"]
        ]
        lines.append("")
    if not decision.get("steps"):
        lines += ["No step ran.", ""]
    return "\n".join(lines)


def write_decision(decision: dict[str, Any], gates: Gates | None, out: Path) -> None:
    document = {
        "stamp": stamp("release.canary"),
        **decision,
        "thresholds": gates.model_dump(include={"eval", "load", "canary"}) if gates else None,
    }
    write_json(out / "decision.json", document)
    write_atomic(out / "decision.md", render_markdown(document) + "\n")


def build_backend(args: argparse.Namespace, out: Path) -> Backend:
    runner = Runner(log=out / "commands.log", cwd=Path.cwd(), dry_run=args.dry_run)
    load_args, eval_args = shlex.split(args.load_args), shlex.split(args.eval_args)
    if args.backend == "local":
        names = {"stable": args.stable_name, "canary": args.canary_name}
        models = {"stable": args.stable_model, "canary": args.canary_model}
        return LocalBackend(
            runner, BUILD / "serving", load_args, eval_args, names=names, models=models
        )
    endpoints = {"stable": args.stable_endpoint, "canary": args.canary_endpoint}
    return GkeBackend(
        runner,
        args.stack,
        args.candidate,
        load_args=load_args,
        eval_args=eval_args,
        endpoints=endpoints,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["local", "gke"], default="local")
    parser.add_argument("--stack", default="prod", help="Pulumi stack (gke backend)")
    parser.add_argument("--candidate", default="", help="model to release (gke backend)")
    parser.add_argument("--gates", type=Path, default=GATES_FILE)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--load-args", default="", help="extra `make load` variables")
    parser.add_argument("--eval-args", default="", help="extra `make eval` variables")
    parser.add_argument(
        "--stable-name", default="stable", help="local server name (make serve NAME=)"
    )
    parser.add_argument(
        "--canary-name", default="canary", help="local server name (make serve NAME=)"
    )
    parser.add_argument("--stable-model", default="champion", help="local: model for stable")
    parser.add_argument("--canary-model", default="candidate", help="local: model for canary")
    parser.add_argument("--stable-endpoint", default="", help="gke: stable URL (else stack output)")
    parser.add_argument("--canary-endpoint", default="", help="gke: canary URL (else stack output)")
    parser.add_argument("--dry-run", action="store_true", help="print commands, run nothing")
    args = parser.parse_args(argv)
    for stale in ("decision.json", "decision.md"):
        (args.out / stale).unlink(missing_ok=True)
    try:
        gates = load_gates(args.gates)
    except GatesError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    backend = build_backend(args, args.out)
    decision = run_canary(backend, gates, args.out)
    write_decision(decision, gates, args.out)
    if args.dry_run:
        print("\n".join(shlex.join(c) for c in backend.runner.commands))  # type: ignore[attr-defined]
    print(f"==> canary {decision['verdict']}: {decision['reason']}")
    print(f"    decision: {args.out / 'decision.json'} and decision.md")
    if decision["verdict"] != "promoted":
        print(f"ERROR: canary not promoted: {decision['reason']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
