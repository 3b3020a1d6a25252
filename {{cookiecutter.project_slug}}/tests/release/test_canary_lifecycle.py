"""The release path around the gate: warm-up at weight 0, failures inside promote(), timeouts,
the persisted state, and re-runs of a tag. GKE commands are recorded by a dry runner."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from canary_evidence import good, smoke
from test_canary_backends import GATES, PULUMI, STACK_OUTPUTS, Scripted, StackRunner, set_ref, warm

from release import canary, ledger
from release.backends import Runner
from release.interrupts import StepTimeout, deadline

UP = ["pulumi", "up", "--yes", "--skip-preview", "--diff", *PULUMI]
WEIGHT_0 = ["pulumi", "config", "set", "--path", "serving.canary_weight", "0", *PULUMI]


def gke(tmp_path: Path, runner: StackRunner | None = None, **evidence) -> Scripted:
    backend = Scripted(runner or StackRunner(tmp_path, STACK_OUTPUTS), "prod", "candidate")
    backend.evidence = {w: good(w) for w in GATES.canary.steps} | evidence
    return backend


class FailingUps(StackRunner):
    """`pulumi up` exits 1 from the first one after the stable track was set to the candidate
    (`times`: how many ups fail from then on; None: all of them)."""

    def __init__(self, tmp: Path, times: int | None = 1):
        super().__init__(tmp, STACK_OUTPUTS)
        self.armed, self.times = False, times

    def run_parallel(self, commands, check=False):
        self.commands.extend(commands)
        for command in commands:
            if command == set_ref("serving.stable_model", "7"):
                self.armed = True
            if command[:2] == ["pulumi", "up"] and self.armed and self.times != 0:
                self.times = None if self.times is None else self.times - 1
                raise RuntimeError("command failed: pulumi up (exit 1)")
        return [0] * len(commands)


def weights(commands: list[list[str]]) -> list[str]:
    """The canary weights set, in order."""
    return [c[5] for c in commands if c[:5] == WEIGHT_0[:5]]


# --- (d) a promotion whose `pulumi up` fails ---------------------------------------------------


def test_a_failed_promotion_rolls_back_to_the_stable_version_it_served(tmp_path):
    backend = gke(tmp_path, FailingUps(tmp_path))
    decision = canary.run_canary(backend, GATES, tmp_path)
    commands = backend.runner.commands
    promote_at = commands.index(set_ref("serving.stable_model", "7"))
    # The rollback's `up` must not apply the candidate that this checkout now names as stable.
    assert commands[promote_at + 4 :] == [
        set_ref("serving.stable_model", "3"),
        WEIGHT_0,
        warm("false"),
        UP,
    ]
    assert decision["verdict"] == "rolled_back"
    assert "pulumi up (exit 1)" in decision["reason"]
    assert decision["traffic"] == {"stable": "3", "canary_weight": 0}
    assert "stable serves version 3" in decision["action"]
    assert not any("registry-promote" in c for c in commands)


def test_a_rollback_that_fails_too_is_never_reported_as_rolled_back(tmp_path):
    backend = gke(tmp_path, FailingUps(tmp_path, times=None))
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "rollback_failed"
    assert decision["traffic"] is None
    assert decision["action"].startswith("ROLLBACK FAILED")
    text = (tmp_path / "decision.md").read_text()
    assert "**not known**" in text and "stable unchanged" not in text
    assert ledger.load(tmp_path / "state.json")["phase"] == "rollback_failed"


# --- (b) warm-up at weight 0 -------------------------------------------------------------------


def test_no_traffic_moves_before_the_canary_passes_its_smoke_eval(tmp_path):
    backend = gke(tmp_path)
    canary.run_canary(backend, GATES, tmp_path)
    commands = backend.runner.commands
    smoke_eval = next(i for i, c in enumerate(commands) if c[:2] == ["make", "eval"])
    first_weight = next(
        i for i, c in enumerate(commands) if "serving.canary_weight" in c and c[-6] != "0"
    )
    assert commands[smoke_eval - 1] == UP and smoke_eval < first_weight
    assert warm("true") in commands[:smoke_eval]


def test_a_canary_that_fails_its_smoke_eval_is_refused_and_parked(tmp_path):
    backend = gke(tmp_path)
    backend.smoke = smoke(refusal=0.1)
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused"
    assert decision["reason"].startswith("smoke eval at weight 0 failed: eval.refusal.min_score")
    assert decision["steps"] == [] and decision["smoke"]["passed"] is False
    assert weights(backend.runner.commands) == ["0", "0"]  # deployed at 0, parked at 0
    assert backend.runner.commands[-2:] == [warm("false"), UP]


# --- (c) timeouts --------------------------------------------------------------------------------


class Hangs(Scripted):
    def measure(self, weight, out):
        time.sleep(60)  # a step that never returns
        raise AssertionError("not reached")


def test_a_hanging_step_times_out_and_rolls_back(tmp_path):
    backend = Hangs(StackRunner(tmp_path, STACK_OUTPUTS), "prod", "candidate")
    started = time.monotonic()
    decision = canary.run_canary(backend, GATES, tmp_path, timeout_s=1)
    assert time.monotonic() - started < 10
    assert decision["verdict"] == "rolled_back"
    assert decision["reason"] == "canary aborted: step 10% timed out after 1 s"
    assert decision["traffic"] == {"stable": "3", "canary_weight": 0}
    assert backend.runner.commands[-1] == UP and backend.runner.commands[-2] == warm("false")


def test_the_runner_stops_a_command_that_outlives_its_deadline(tmp_path):
    runner = Runner(log=tmp_path / "log", cwd=tmp_path)
    pid_file = tmp_path / "child.pid"
    # The shell's own child would outlive a kill of the shell alone: the group is stopped.
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="measure timed out after 1 s"), deadline(1, "measure"):
        runner.run(["sh", "-c", script])
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


# --- (a) a tag pins its candidate; re-runs ------------------------------------------------------


def test_a_rerun_of_a_decided_tag_changes_nothing(tmp_path):
    first = canary.run_canary(gke(tmp_path), GATES, tmp_path, tag="v1.0.0")
    assert first["verdict"] == "promoted" and first["versions"] == {"stable": "3", "canary": "7"}
    again = gke(tmp_path)
    second = canary.run_canary(again, GATES, tmp_path, tag="v1.0.0")
    assert again.runner.commands == []  # no resolution, no second promotion
    assert second["verdict"] == "promoted" and "decided by an earlier run" in second["rerun"]
    assert json.loads((tmp_path / "decision.json").read_text())["rerun"]


# A run that a kill cut short at the 50 % step: what its ledger (build/canary/state.json) holds.
CUT_SHORT_AT_50 = {
    "tag": "v1.0.0",
    "phase": "step",
    "weight": 50,
    "took_traffic": True,
    "versions": {"stable": "3", "canary": "7"},
}


def test_a_rerun_after_a_cut_short_run_restores_stable_then_restarts_on_the_pinned_version(
    tmp_path,
):
    ledger.save(tmp_path / "state.json", dict(CUT_SHORT_AT_50))
    runner = StackRunner(tmp_path, STACK_OUTPUTS, version="9")  # the alias moved since
    backend = gke(tmp_path, runner)
    decision = canary.run_canary(backend, GATES, tmp_path, tag="v1.0.0")
    commands = runner.commands
    assert commands[:4] == [set_ref("serving.stable_model", "3"), WEIGHT_0, warm("false"), UP]
    assert ["make", "-s", "model-publish", "MODEL=7", "BUCKET=gs://acme-models"] in commands
    assert not any(c[:3] == ["pulumi", "config", "get"] for c in commands)
    assert decision["verdict"] == "promoted"
    assert set_ref("serving.stable_model", "7") in commands  # the pinned version, never 9


def test_a_rerun_after_a_cut_short_promotion_finishes_it(tmp_path):
    steps = [good(w) for w in GATES.canary.steps]
    record = {
        "tag": "v1.0.0",
        "phase": "promoting",
        "reason": "all 3 steps passed",
        "versions": {"stable": "3", "canary": "7"},
        "took_traffic": True,
        "steps": [{"weight": s.weight, "passed": True, "checks": []} for s in steps],
    }
    ledger.save(tmp_path / "state.json", record)
    backend = gke(tmp_path)
    decision = canary.run_canary(backend, GATES, tmp_path, tag="v1.0.0")
    assert decision["verdict"] == "promoted"
    assert "promotion resumed" in decision["reason"]
    assert [c for c in backend.runner.commands if c[:2] == ["make", "eval"]] == []
    assert backend.runner.commands[-1] == ["make", "-s", "registry-promote", "VERSION=7"]
    assert ledger.load(tmp_path / "state.json")["phase"] == ledger.DECIDED


def test_untagged_runs_start_afresh(tmp_path):
    canary.run_canary(gke(tmp_path), GATES, tmp_path)
    again = gke(tmp_path)
    assert canary.run_canary(again, GATES, tmp_path)["verdict"] == "promoted"
    assert any("model-publish" in c for c in again.runner.commands)


def test_recover_restores_stable_after_a_killed_run_and_says_so(tmp_path):
    ledger.save(tmp_path / "state.json", dict(CUT_SHORT_AT_50))
    backend = gke(tmp_path)
    decision = canary.run_canary(backend, GATES, tmp_path, recover=True)
    assert backend.runner.commands == [
        set_ref("serving.stable_model", "3"),
        WEIGHT_0,
        warm("false"),
        UP,
    ]
    assert decision["verdict"] == "rolled_back"
    assert decision["reason"] == "the canary run was stopped during step 50%; recovered"
    assert canary.run_canary(gke(tmp_path), GATES, tmp_path, recover=True) is None
