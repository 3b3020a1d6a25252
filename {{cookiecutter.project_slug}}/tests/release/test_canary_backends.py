"""Backends and the controller loop: the exact commands each backend runs, and the decision files.

The GKE backend cannot run here (no Pulumi CLI, no cluster): its commands are recorded by the
runner's dry-run mode and checked one by one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from canary_evidence import good, smoke

from policies.gates import load_gates
from release import canary
from release.backends import GkeBackend, LocalBackend, Runner, measure_with_make, smoke_with_make
from release.gate import StepEvidence

GATES = load_gates()
PULUMI = ["--stack", "prod", "--cwd", "infra", "--non-interactive"]


class StackRunner(Runner):
    """Dry-run runner that answers `pulumi stack output`, `pulumi config get` and
    `make model-publish` as they do (`stable=None`: the config key is not set)."""

    def __init__(
        self, tmp: Path, outputs: dict[str, str], version: str = "7", stable: str | None = "3"
    ):
        super().__init__(log=tmp / "log", cwd=tmp, dry_run=True)
        self.outputs = outputs
        self.version = version
        self.stable = stable

    def output(self, command: list[str]) -> str:
        self.commands.append(command)
        if command[:3] == ["pulumi", "config", "get"]:
            if self.stable is None:
                raise RuntimeError("command failed: configuration key not found")
            return self.stable + "\n"
        if command[:3] == ["pulumi", "stack", "output"] and command[3] != "--json":
            return self.outputs.get(command[3], "") + "\n"
        if "model-publish" in command:
            ref = next(a for a in command if a.startswith("MODEL=")).split("=", 1)[1]
            version = ref if ref.isdigit() else self.version  # an alias resolves to `version`
            record = {"model": "llm-service", "version": version, "status": "published"}
            return "==> creating environment 'pipelines'\n" + json.dumps(record) + "\n"
        return json.dumps(self.outputs)


class Scripted(GkeBackend):
    """The real GKE command sequence, with the smoke eval's and each step's evidence given by
    the test."""

    evidence: dict[int, StepEvidence]
    smoke: StepEvidence = smoke()

    def warm_up(self, out: Path) -> StepEvidence:
        super().warm_up(out)  # the commands, as they run
        return self.smoke

    def measure(self, weight: int, out: Path) -> StepEvidence:
        return self.evidence[weight]


STACK_OUTPUTS = {
    "model_bucket": "acme-models",
    "serving_stable_endpoint": "http://stable/v1",
    "serving_canary_endpoint": "http://canary/v1",
}


def gke(tmp_path: Path, evidence=None, outputs=None) -> Scripted:
    backend = Scripted(
        StackRunner(
            tmp_path,
            outputs or STACK_OUTPUTS,
        ),
        stack="prod",
        candidate="candidate",
    )
    backend.evidence = evidence or {w: good(w) for w in GATES.canary.steps}
    return backend


def set_ref(key: str, value: str) -> list[str]:
    """A model ref, set as the backend sets it: `--type string`, or the CLI stores a YAML int."""
    return ["pulumi", "config", "set", "--path", "--type", "string", key, value, *PULUMI]


def warm(value: str) -> list[str]:
    """Keep the canary's pods at weight 0 (`true`, warm-up) or park them (`false`)."""
    return [
        "pulumi",
        "config",
        "set",
        "--path",
        "--type",
        "bool",
        "serving.canary_warm",
        value,
        *PULUMI,
    ]


def test_gke_promotion_commands(tmp_path):
    backend = gke(tmp_path)
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "promoted"
    commands = backend.runner.commands
    up = ["pulumi", "up", "--yes", "--skip-preview", "--diff", *PULUMI]
    # The alias is published as the version it points to, and the tracks serve that version.
    expected = [
        ["pulumi", "config", "get", "--path", "serving.stable_model", *PULUMI],
        ["pulumi", "stack", "output", "model_bucket", *PULUMI],
        ["make", "-s", "model-publish", "MODEL=candidate", "BUCKET=gs://acme-models"],
        ["pulumi", "stack", "output", "--json", *PULUMI],
        # Warm-up: the canary deployed with no traffic, Ready (`pulumi up` waits), smoke-tested.
        set_ref("serving.canary_model", "7"),
        ["pulumi", "config", "set", "--path", "serving.canary_weight", "0", *PULUMI],
        warm("true"),
        up,
        [
            "make",
            "eval",
            "ENDPOINT=http://canary/v1",
            f"OUT={tmp_path / 'warmup' / 'canary' / 'eval'}",
            "MODEL_VERSION=7",
        ],
    ]
    for weight in GATES.canary.steps:
        expected += [
            ["pulumi", "config", "set", "--path", "serving.canary_weight", str(weight), *PULUMI],
            up,
        ]
    expected += [
        set_ref("serving.stable_model", "7"),
        ["pulumi", "config", "set", "--path", "serving.canary_weight", "0", *PULUMI],
        warm("false"),
        up,
        ["make", "-s", "registry-promote", "VERSION=7"],
    ]
    assert commands == expected
    assert decision["models"]["version"] == "7"
    assert decision["models"]["stable_version"] == "3"


@pytest.mark.parametrize(
    ("stable", "says"), [("champion", "`champion`"), (None, "the default alias")]
)
def test_gke_refuses_a_stable_track_that_serves_no_version_number(tmp_path, stable, says):
    runner = StackRunner(tmp_path, STACK_OUTPUTS, stable=stable)
    runner.dry_run = False
    backend = GkeBackend(runner, stack="prod", candidate="candidate")
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused"
    assert f"stable serves {says}" in decision["reason"] and "not a version" in decision["reason"]
    assert not any("model-publish" in c for c in runner.commands)


def test_gke_tells_evals_each_sides_version_and_the_gate_expects_it(tmp_path):
    backend = GkeBackend(StackRunner(tmp_path, STACK_OUTPUTS), stack="prod", candidate="candidate")
    backend.prepare()
    evidence = backend.measure(10, tmp_path / "step-010")
    evals = [c for c in backend.runner.commands if c[:2] == ["make", "eval"]]
    assert [(c[2], c[-1]) for c in evals] == [
        ("ENDPOINT=http://stable/v1", "MODEL_VERSION=3"),
        ("ENDPOINT=http://canary/v1", "MODEL_VERSION=7"),
    ]
    assert evidence.served == {
        "stable": {"endpoint": "http://stable/v1", "model_version": "3"},
        "canary": {"endpoint": "http://canary/v1", "model_version": "7"},
    }


def test_gke_promotion_stands_when_the_registry_alias_cannot_move(tmp_path):
    class RegistryDown(StackRunner):
        def run_parallel(self, commands, check=False):
            self.commands.extend(commands)
            return [1 if "registry-promote" in c else 0 for c in commands]

    backend = Scripted(RegistryDown(tmp_path, STACK_OUTPUTS), stack="prod", candidate="candidate")
    backend.evidence = {w: good(w) for w in GATES.canary.steps}
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "promoted"
    assert "WARNING: the registry's `champion` alias was not moved" in decision["action"]
    assert "make -s registry-promote VERSION=7" in decision["action"]


def test_gke_refuses_a_stack_without_a_model_bucket(tmp_path):
    runner = StackRunner(tmp_path, {})
    runner.dry_run = False  # the stack answers, but has never been brought up
    backend = GkeBackend(runner, stack="prod", candidate="candidate")
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused"
    assert "no model_bucket output: run `make up STACK=prod`" in decision["reason"]
    assert not any("model-publish" in c for c in runner.commands)


def test_gke_rollback_sets_weight_back_to_zero(tmp_path):
    steps = GATES.canary.steps
    evidence = {w: good(w) for w in steps}
    evidence[steps[1]] = good(steps[1], canary_load=None)
    backend = gke(tmp_path, evidence)
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "rolled_back"
    assert "missing load-test results for canary" in decision["reason"]
    # Stable is set back to the version it served (never to the candidate), the canary parked.
    assert backend.runner.commands[-4:] == [
        set_ref("serving.stable_model", "3"),
        ["pulumi", "config", "set", "--path", "serving.canary_weight", "0", *PULUMI],
        warm("false"),
        ["pulumi", "up", "--yes", "--skip-preview", "--diff", *PULUMI],
    ]
    assert decision["traffic"] == {"stable": "3", "canary_weight": 0}


def test_gke_endpoints_given_explicitly_skip_the_stack_outputs(tmp_path):
    backend = gke(tmp_path, outputs={})
    backend.endpoints = {"stable": "http://s/v1", "canary": "http://c/v1"}
    backend.prepare()
    assert not any(
        c[:4] == ["pulumi", "stack", "output", "--json"] for c in backend.runner.commands
    )
    assert backend.endpoints == {"stable": "http://s/v1", "canary": "http://c/v1"}


def test_gke_without_endpoints_never_promotes(tmp_path):
    backend = GkeBackend(StackRunner(tmp_path, {}), stack="prod", candidate="7")
    decision = canary.run_canary(backend, GATES, tmp_path)
    # Found at weight 0, before any traffic moved.
    assert decision["verdict"] == "refused"
    assert "no endpoint for canary" in decision["reason"]


def test_gke_needs_a_candidate(tmp_path):
    backend = GkeBackend(StackRunner(tmp_path, {}), stack="prod", candidate="")
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused" and "CANDIDATE= is required" in decision["reason"]
    assert backend.runner.commands == []


def test_measure_with_make_runs_both_sides_and_reads_only_fresh_evidence(tmp_path):
    out = tmp_path / "step-010"
    stale = out / "canary" / "load" / "summary.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"requests": 999}))  # from an earlier run: must be wiped
    runner = Runner(log=tmp_path / "log", cwd=tmp_path, dry_run=True)
    evidence = measure_with_make(
        runner, {"stable": "http://s/v1", "canary": "http://c/v1"}, out, 10, ["USERS=2"], []
    )
    assert evidence.canary_load is None and evidence.stable_load is None
    assert [
        "make",
        "load",
        "ENDPOINT=http://c/v1",
        f"OUT={out / 'canary' / 'load'}",
        "USERS=2",
    ] in (runner.commands)
    assert [
        "make",
        "eval",
        "ENDPOINT=http://s/v1",
        f"OUT={out / 'stable' / 'eval'}",
    ] in runner.commands


class BatchRecorder(Runner):
    """A dry runner that remembers which commands were started together."""

    def __init__(self, tmp_path):
        super().__init__(log=tmp_path / "log", cwd=tmp_path, dry_run=True)
        self.batches: list[list[str]] = []

    def run_parallel(self, commands, check=False):
        self.batches.append([f"{c[1]}:{c[2].split('//')[1][0]}" for c in commands])
        return super().run_parallel(commands, check)


@pytest.mark.parametrize(
    ("concurrent", "batches"),
    [
        (True, [["eval:s", "eval:c"], ["load:c", "load:s"]]),
        # Local: one at a time (two CPU servers measured at once measure the contention), and
        # the side that goes first alternates between eval and load.
        (False, [["eval:s"], ["eval:c"], ["load:c"], ["load:s"]]),
    ],
)
def test_sides_are_measured_together_or_one_after_the_other(tmp_path, concurrent, batches):
    runner = BatchRecorder(tmp_path)
    endpoints = {"stable": "http://s/v1", "canary": "http://c/v1"}
    measure_with_make(runner, endpoints, tmp_path / "step", 10, [], [], concurrent=concurrent)
    assert runner.batches == batches


def test_a_failing_command_without_a_summary_is_a_stated_problem(tmp_path):
    runner = Runner(log=tmp_path / "log", cwd=tmp_path)
    evidence = measure_with_make(
        runner, {"stable": "http://127.0.0.1:9/v1"}, tmp_path / "s", 10, ["--no-such-make-flag"], []
    )
    assert evidence.problems and "wrote no summary" in evidence.problems[0]


def test_local_backend_refuses_when_stable_and_canary_serve_the_same_model(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    import os

    for name in ("stable", "canary"):
        (serving / f"{name}.json").write_text(
            json.dumps({"pid": os.getpid(), "endpoint": f"http://{name}/v1", "model_version": "3"})
        )
    backend = LocalBackend(Runner(log=tmp_path / "log", cwd=tmp_path, dry_run=True), serving)
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused"
    assert "same model (version 3)" in decision["reason"]
    assert backend.runner.commands == []  # both were running: nothing started, nothing stopped


def test_local_backend_refuses_a_server_that_serves_no_registered_version(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    import os

    for name, version in (("stable", "local"), ("canary", "4")):
        record = {"pid": os.getpid(), "endpoint": f"http://{name}/v1", "model_version": version}
        (serving / f"{name}.json").write_text(json.dumps({**record, "model_dir": f"/m/{name}"}))
    backend = LocalBackend(Runner(log=tmp_path / "log", cwd=tmp_path, dry_run=True), serving)
    decision = canary.run_canary(backend, GATES, tmp_path)
    assert decision["verdict"] == "refused"
    reason = decision["reason"]
    assert "stable server serves directory /m/stable, not a registered version" in reason


def test_local_backend_measures_with_the_served_versions(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    import os

    for name, version in (("stable", "1"), ("canary", "2")):
        record = {"pid": os.getpid(), "endpoint": f"http://{name}/v1", "model_version": version}
        (serving / f"{name}.json").write_text(json.dumps(record))
    backend = LocalBackend(Runner(log=tmp_path / "log", cwd=tmp_path, dry_run=True), serving)
    evidence = backend.measure(10, tmp_path / "step")
    assert evidence.served["canary"] == {"endpoint": "http://canary/v1", "model_version": "2"}
    evals = [c for c in backend.runner.commands if c[:2] == ["make", "eval"]]
    assert {c[-1] for c in evals} == {"MODEL_VERSION=1", "MODEL_VERSION=2"}


def test_local_backend_reports_a_dead_server_as_failed_evidence(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / "stable.json").write_text(json.dumps({"pid": 999_999_999, "endpoint": "x"}))
    backend = LocalBackend(Runner(log=tmp_path / "log", cwd=tmp_path, dry_run=True), serving)
    evidence = backend.measure(10, tmp_path / "step")
    assert set(evidence.problems) == {
        f"the {side} server is not running (process gone); see its log under {serving}"
        for side in ("stable", "canary")
    }


def test_cli_writes_decision_files_and_exits_1_when_not_promoted(tmp_path, capsys):
    out = tmp_path / "canary"
    code = canary.main(["--backend", "gke", "--candidate", "", "--dry-run", "--out", str(out)])
    assert code == 1
    decision = json.loads((out / "decision.json").read_text())
    assert decision["verdict"] == "refused"
    assert decision["thresholds"]["canary"]["steps"] == GATES.canary.steps
    assert decision["stamp"]["producer"] == "release.canary"
    assert (out / "decision.md").read_text().startswith("### Canary: ⛔ refused")
    assert "ERROR: canary not promoted" in capsys.readouterr().err


def test_cli_refuses_a_bad_gates_file_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "gates.yaml"
    bad.write_text("version: 1\ncanary: {steps: [50, 10]}\n")
    assert canary.main(["--gates", str(bad), "--out", str(tmp_path)]) == 2
    assert "ERROR: release gates file" in capsys.readouterr().err
    assert not (tmp_path / "decision.json").exists()


def test_decision_markdown_lists_every_check(tmp_path):
    backend = gke(tmp_path)
    decision = canary.run_canary(backend, GATES, tmp_path)
    canary.write_decision(decision, GATES, tmp_path)
    text = (tmp_path / "decision.md").read_text()
    assert text.startswith("### Canary: ✅ promoted")
    for weight in GATES.canary.steps:
        assert f"#### Step {weight}%: passed" in text
    assert "`load.ttft_p95.vs_stable`" in text and "`eval.label_accuracy.non_inferior`" in text


@pytest.mark.parametrize("argv", [["--backend", "nope"]])
def test_cli_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        canary.main(argv)
    assert exit_info.value.code == 2


class EvalWrites(Runner):
    """A dry runner whose `make eval` leaves a summary, as a real one does."""

    def run(self, command, check=True):
        code = super().run(command, check)
        if command[1] == "eval":
            out = Path(next(a for a in command if a.startswith("OUT=")).split("=", 1)[1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text("{}")
        return code


def test_the_warm_up_loads_the_canary_after_its_smoke_eval_and_only_then(tmp_path):
    runner = EvalWrites(log=tmp_path / "log", cwd=tmp_path, dry_run=True)
    smoke_with_make(runner, "http://c/v1", "7", tmp_path / "w", [], ["DURATION=15"])
    kinds = [command[1] for command in runner.commands]
    assert kinds == ["eval", "load"]
    load = runner.commands[-1]
    # The steps' own load arguments, cut short (the last DURATION wins on make's command line).
    assert load[-2:] == ["DURATION=15", "DURATION=5"] and "ENDPOINT=http://c/v1" in load

    silent = Runner(log=tmp_path / "log2", cwd=tmp_path, dry_run=True)  # eval wrote nothing
    evidence = smoke_with_make(silent, "http://c/v1", "7", tmp_path / "x", [], [])
    assert [command[1] for command in silent.commands] == ["eval"] and evidence.canary_eval is None


def test_each_step_soaks_for_the_gates_files_soak_s_unless_told_otherwise(tmp_path):
    import argparse

    def backend(load_args: str):
        args = argparse.Namespace(
            dry_run=True,
            load_args=load_args,
            eval_args="",
            backend="gke",
            stack="prod",
            candidate="7",
            stable_endpoint="",
            canary_endpoint="",
        )
        return canary.build_backend(args, tmp_path, GATES)

    assert backend("").load_args == [f"DURATION={GATES.canary.soak_s:g}"]
    # The demo's CANARY_LOAD_ARGS comes last: make takes the last DURATION= it is given.
    assert backend("USERS=2 DURATION=15").load_args[-1] == "DURATION=15"
