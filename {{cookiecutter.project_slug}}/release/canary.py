"""`make canary`: step the candidate's weight while the gate passes, then promote or roll back.

    python -m release.canary --backend local|gke [--stack prod --candidate REF] [--gates FILE]
        [--tag v1.2.3] [--step-timeout SECONDS] [--recover]

prepare (resolve each side to a version and pin it) -> warm-up (the canary Ready at weight 0
and a smoke eval) -> steps -> promote or roll back. Every phase has a deadline; a cancel
(SIGINT/SIGTERM), a timeout or an error rolls back. The state is saved at every phase
(build/canary/state.json, release/ledger.py): with `--tag`, a re-run of a decided tag changes
nothing, and one that was cut short restores stable, then restarts on the pinned versions.
`--recover` only restores stable after a run that was killed.

Writes build/canary/decision.json and decision.md (verdict, reason, what serves the traffic
now, every check of every step, the thresholds used). Exit 0 when promoted, 1 when rolled
back or refused, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.evidence import BUILD, stamp, write_atomic, write_json
from policies.gates import GATES_FILE, Gates, GatesError, load_gates
from release import interrupts, ledger
from release import state as sm
from release.backends import Backend, GkeBackend, LocalBackend, Runner
from release.gate import StepResult, evaluate_smoke, evaluate_step

OUT = BUILD / "canary"
RECOVER_HINT = "if this run is killed, `make canary-recover` finishes the rollback"


@dataclass
class Controller:
    backend: Backend
    gates: Gates
    out: Path
    tag: str = ""
    # Seconds per phase; None: `canary.step_timeout_s` of the gates (0 there: no limit).
    timeout_s: float | None = None
    record: dict[str, Any] = field(default_factory=dict)
    smoke: StepResult | None = None
    promoted: str = ""  # the promotion's action, once it has been applied

    # --- the persisted state ----------------------------------------------------------------

    def save(self, phase: str, **fields: Any) -> None:
        self.record.update(phase=phase, **fields)
        ledger.save(self.out / ledger.STATE_FILE, self.record)

    def prior(self) -> dict[str, Any] | None:
        """The record of an earlier run of this tag (untagged runs always start afresh)."""
        record = ledger.load(self.out / ledger.STATE_FILE)
        if not self.tag or not record or record.get("tag") != self.tag:
            return None
        return record

    def timed(self, what: str) -> Any:
        limit = self.gates.canary.step_timeout_s if self.timeout_s is None else self.timeout_s
        return interrupts.deadline(limit or None, what)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        prior = self.prior()
        if prior and prior.get("phase") == ledger.DECIDED and prior.get("decision"):
            decision = {
                **prior["decision"],
                "rerun": f"tag {self.tag} was decided by an earlier run; nothing was changed",
            }
            write_decision(decision, self.gates, self.out)
            return decision
        self.record = {"tag": self.tag, "backend": self.backend.name, "versions": {}}
        if prior and prior.get("phase") == "promoting":
            # Carried over so the resumed promotion's decision shows what it rests on.
            self.record.update({k: prior.get(k) for k in ("reason", "steps", "took_traffic")})
        if prior and prior.get("versions"):
            # The tag's versions were resolved once; a re-run serves exactly those.
            self.backend.pin(prior["versions"])
            self.record["versions"] = prior["versions"]
        if prior and prior.get("phase") == "promoting":
            return self.resume_promotion()
        if prior and prior.get("phase") in ledger.UNFINISHED:
            ok, action = self.roll_back()
            if not ok:
                return self.decide("rollback_failed", "an earlier run was cut short", action)
        return self.fresh()

    def fresh(self) -> dict[str, Any]:
        self.save("preparing")
        try:
            with self.timed("prepare"):
                self.record["models"] = self.backend.prepare()
        except Exception as error:  # a canary that cannot start is refused, with the reason
            self.cleanup()
            return self.decide(
                "refused",
                f"could not start the canary: {error}",
                "not promoted; the canary never took traffic (weight 0)",
            )
        self.save("warming", versions=self.backend.versions())
        canary = sm.start(self.gates.canary.steps)
        try:
            with self.timed("warm-up at weight 0"):
                evidence = self.backend.warm_up(self.out / "warmup")
            self.smoke = evaluate_smoke(evidence, self.gates)
            if not self.smoke.passed:
                failure = self.smoke.first_failure
                why = f"{failure.name}: {failure.detail}" if failure else "no checks"
                return self.finish_rollback(f"smoke eval at weight 0 failed: {why}", True)
            while not canary.done:
                weight = canary.weight
                self.save("step", weight=weight, took_traffic=True)
                print(f"==> canary step {weight}%: setting weight and measuring", flush=True)
                with self.timed(f"step {weight}%"):
                    self.backend.set_weight(weight)
                    evidence = self.backend.measure(weight, self.out / f"step-{weight:03d}")
                result = evaluate_step(evidence, self.gates)
                canary = sm.advance(canary, result)
                self.record["steps"] = [step.to_dict() for step in canary.history]
                print(
                    f"    step {weight}%: {'passed' if result.passed else 'FAILED'}"
                    + ("" if result.passed else f" ({canary.reason})"),
                    flush=True,
                )
            if canary.phase is sm.Phase.PROMOTE:
                return self.promote(canary.reason)
            return self.finish_rollback(canary.reason, True)
        except Exception as error:  # a timeout, a cancel, an error: roll back, say why
            return self.abort(f"canary aborted: {error}")

    def promote(self, reason: str) -> dict[str, Any]:
        self.save("promoting", reason=reason)
        with self.timed("promotion"):
            self.promoted = self.backend.promote()
        self.cleanup()
        return self.decide("promoted", reason, self.promoted, decided=True)

    def resume_promotion(self) -> dict[str, Any]:
        """Every step had passed when the earlier run stopped mid-promotion: finish it."""
        reason = f"{self.record.get('reason') or 'all steps passed'} (promotion resumed)"
        try:
            with self.timed("prepare"):
                self.record["models"] = self.backend.prepare()
            return self.promote(reason)
        except Exception as error:
            return self.abort(f"resuming the promotion failed: {error}")

    def abort(self, reason: str) -> dict[str, Any]:
        if self.promoted:  # the cancel landed after the promotion was applied: it stands
            return self.decide("promoted", self.record.get("reason", ""), self.promoted, True)
        # The decision says what is going on before the rollback starts: CI may kill us in it.
        self.decide("rolling_back", reason, f"rolling back; {RECOVER_HINT}", write_only=True)
        return self.finish_rollback(reason, False)

    def finish_rollback(self, reason: str, decided: bool) -> dict[str, Any]:
        """Roll back and say exactly what serves traffic now. `refused`: no step ever moved
        traffic to the canary; `rolled_back`: one did, and it is back on stable."""
        took_traffic = bool(self.record.get("took_traffic"))
        self.save("rolling_back", reason=reason)
        ok, action = self.roll_back()
        self.cleanup()
        if not ok:
            return self.decide("rollback_failed", reason, action)
        verdict = "rolled_back" if took_traffic else "refused"
        return self.decide(verdict, reason, action, decided=decided)

    def roll_back(self) -> tuple[bool, str]:
        for _ in range(2):  # a first cancel arriving during the rollback must not stop it
            try:
                with self.timed("rollback"):
                    return True, self.backend.rollback()
            except interrupts.Cancelled:
                continue
            except Exception as error:
                return False, (
                    f"ROLLBACK FAILED: {error}; traffic may still reach the canary: run "
                    "`make canary-recover`, or check the deployment by hand"
                )
        return False, "ROLLBACK FAILED: interrupted; run `make canary-recover`"

    def cleanup(self) -> None:
        for _ in range(2):
            try:
                with self.timed("cleanup"):
                    self.backend.cleanup()
                return
            except interrupts.Cancelled:
                continue
            except Exception as error:
                print(f"WARNING: cleanup failed: {error}", file=sys.stderr, flush=True)
                return

    def recover(self) -> dict[str, Any] | None:
        """After a run that was killed: restore stable with the versions it recorded."""
        record = ledger.load(self.out / ledger.STATE_FILE)
        if not record or record.get("phase") not in ledger.UNFINISHED:
            return None
        self.record = record
        self.tag = record.get("tag", "")
        if record.get("versions"):
            self.backend.pin(record["versions"])
        where = f"step {record['weight']}%" if record.get("phase") == "step" else record["phase"]
        reason = f"the canary run was stopped during {where}; recovered"
        return self.finish_rollback(reason, False)

    # --- the decision -------------------------------------------------------------------------

    def decide(
        self,
        verdict: str,
        reason: str,
        action: str,
        decided: bool = False,
        write_only: bool = False,
    ) -> dict[str, Any]:
        versions = self.record.get("versions") or {}
        if verdict == "promoted":
            traffic = {"stable": versions.get("canary"), "canary_weight": 0}
        elif verdict in ("rolled_back", "refused"):
            traffic = {"stable": versions.get("stable"), "canary_weight": 0}
        else:
            traffic = None  # rolling back, or a rollback that failed: not known
        decision = {
            "backend": self.backend.name,
            "tag": self.tag,
            "steps_planned": list(self.gates.canary.steps),
            "models": self.record.get("models"),
            "versions": versions,
            "verdict": verdict,
            "reason": reason,
            "action": action,
            "traffic": traffic,
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "steps": self.record.get("steps", []),
        }
        write_decision(decision, self.gates, self.out)
        if not write_only:
            self.save(ledger.DECIDED if decided else verdict, decision=decision)
        return decision


def run_canary(
    backend: Backend,
    gates: Gates,
    out: Path,
    tag: str = "",
    timeout_s: float | None = None,
    recover: bool = False,
) -> dict[str, Any] | None:
    """Drive the canary; always returns a decision and writes it (None: nothing to recover)."""
    controller = Controller(backend, gates, out, tag=tag, timeout_s=timeout_s)
    with interrupts.cancellation():
        try:
            return controller.recover() if recover else controller.run()
        except interrupts.Cancelled as error:  # landed while finishing: finish as an abort
            return controller.abort(f"canary aborted: {error}")


def render_markdown(decision: dict[str, Any]) -> str:
    icon = {"promoted": "✅", "rolled_back": "⛔", "refused": "⛔"}.get(decision["verdict"], "⚠️")
    traffic = decision.get("traffic")
    lines = [
        f"### Canary: {icon} {decision['verdict'].replace('_', ' ')}",
        "",
        *([f"**Re-run:** {decision['rerun']}  "] if decision.get("rerun") else []),
        f"**Reason:** {decision['reason']}  ",
        f"**Action:** {decision.get('action', '')}  ",
        "**Traffic now:** "
        + (
            f"all on stable, version {traffic.get('stable') or '?'}; canary weight 0  "
            if traffic
            else "**not known**: check the deployment  "
        ),
        f"**Backend:** `{decision['backend']}`; steps planned: "
        + " → ".join(f"{w}%" for w in decision.get("steps_planned", [])),
        "",
    ]
    models = decision.get("models") or {}
    if models and all(isinstance(v, dict) for v in models.values()):
        lines += ["| side | model version | content digest | endpoint |", "|---|---|---|---|"]
        lines += [
            f"| {side} | {info.get('model_version', '?')} | "
            f"`{(info.get('model_digest') or '?')[:19]}` | `{info.get('endpoint', '?')}` |"
            for side, info in models.items()
        ]
        lines.append("")
    smoke = decision.get("smoke")
    for step in ([smoke] if smoke else []) + decision.get("steps", []):
        title = "Smoke eval at weight 0" if step is smoke else f"Step {step['weight']}%"
        lines += [
            f"#### {title}: {'passed' if step['passed'] else 'FAILED'}",
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
        lines += ["No step moved traffic.", ""]
    return "\n".join(lines)


def write_decision(decision: dict[str, Any], gates: Gates | None, out: Path) -> None:
    document = {
        "stamp": stamp("release.canary"),
        **decision,
        "thresholds": gates.model_dump(include={"eval", "load", "canary"}) if gates else None,
    }
    write_json(out / "decision.json", document)
    write_atomic(out / "decision.md", render_markdown(document) + "\n")


def build_backend(args: argparse.Namespace, out: Path, gates: Gates) -> Backend:
    runner = Runner(log=out / "commands.log", cwd=Path.cwd(), dry_run=args.dry_run)
    # Each step soaks `canary.soak_s`; --load-args come later, so their DURATION= wins.
    load_args = [f"DURATION={gates.canary.soak_s:g}", *shlex.split(args.load_args)]
    eval_args = shlex.split(args.eval_args)
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
    parser.add_argument("--tag", default="", help="the release tag: re-runs of it are idempotent")
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=None,
        help="seconds each phase may take (0: no limit; default: canary.step_timeout_s)",
    )
    parser.add_argument(
        "--recover", action="store_true", help="only restore stable after a killed run"
    )
    args = parser.parse_args(argv)
    if not args.recover:
        for stale in ("decision.json", "decision.md"):
            (args.out / stale).unlink(missing_ok=True)
    try:
        gates = load_gates(args.gates)
    except GatesError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    backend = build_backend(args, args.out, gates)
    decision = run_canary(
        backend, gates, args.out, args.tag, args.step_timeout, recover=args.recover
    )
    if decision is None:
        print(f"==> nothing to recover: {args.out / ledger.STATE_FILE} records no unfinished run")
        return 0
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
