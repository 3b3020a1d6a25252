"""Where a canary runs: one interface, two backends.

- `local`: two vLLM servers on this machine (`make serve NAME=stable|canary`). There is no
  router locally, so at every step the gate measures both servers with the same eval set and
  load profile, one after the other: two CPU servers measured at once fight over the same cores
  and their latencies say more about the contention than about the models. The weight is
  recorded as what GKE would route. Promotion moves the MLflow `champion` alias to the canary's
  model version.
- `gke`: the weighted HTTPRoute in the Pulumi stack. A step is
  `pulumi config set serving.canary_weight N` + `pulumi up`; the gate measures the stable and
  canary Services; promotion points stable at the new model and sets the weight back to 0.

Every external action is a command run through `Runner`, so tests can check the exact commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from release.gate import StepEvidence


@dataclass
class Runner:
    """Runs commands with their output appended to a log; `dry_run` only records them.

    Each command gets its own process group. If the wait is interrupted (a cancel signal or a
    step's deadline raises in the controller), the whole group is stopped: SIGINT first (the
    Pulumi CLI then ends its update cleanly and releases the stack lock), then SIGTERM and
    SIGKILL, so nothing the step started keeps running.
    """

    log: Path
    cwd: Path
    dry_run: bool = False
    commands: list[list[str]] = field(default_factory=list)

    def run(self, command: list[str], check: bool = True) -> int:
        return self.run_parallel([command], check=check)[0]

    def run_parallel(self, commands: list[list[str]], check: bool = False) -> list[int]:
        """Start all commands together and wait for all; returns their exit codes."""
        self.commands.extend(commands)
        if self.dry_run:
            return [0] * len(commands)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            procs: list[subprocess.Popen[bytes]] = []
            try:
                for command in commands:
                    log.write(f"$ {shlex.join(command)}\n")
                    log.flush()
                    procs.append(self._start(command, stdout=log, stderr=subprocess.STDOUT))
                codes = [proc.wait() for proc in procs]
            except BaseException:
                stop_all(procs)
                raise
        if check and any(codes):
            failed = [shlex.join(c) for c, code in zip(commands, codes, strict=True) if code]
            raise RuntimeError(f"command failed: {'; '.join(failed)} (log: {self.log})")
        return codes

    def output(self, command: list[str]) -> str:
        self.commands.append(command)
        if self.dry_run:
            return ""
        proc = self._start(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            stop_all([proc])
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"command failed: {shlex.join(command)}: {stderr.strip()}")
        return stdout

    def _start(self, command: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(
            command, cwd=self.cwd, env=os.environ.copy(), start_new_session=True, **kwargs
        )


def stop_all(procs: list[subprocess.Popen[Any]], grace_s: float = 3.0) -> None:
    """Stop each command's process group: SIGINT, then SIGTERM, then SIGKILL.

    The group, not the command: `make` or a shell may be gone while what it started runs on.
    """
    groups = [proc.pid for proc in procs]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [group for group in groups if _group_alive(group, procs)]
        if not alive:
            return
        for group in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        until = time.monotonic() + grace_s
        while time.monotonic() < until and any(_group_alive(g, procs) for g in alive):
            time.sleep(0.1)


def _group_alive(group: int, procs: list[subprocess.Popen[Any]]) -> bool:
    for proc in procs:
        proc.poll()  # reap the leaders we started, or they count as members
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class Backend(Protocol):
    """prepare (resolve what each side serves) -> warm_up (canary Ready at weight 0, smoke
    eval) -> set_weight + measure per step -> promote or rollback -> cleanup.

    `versions` is what prepare resolved ({"stable": "3", "canary": "7"}); `pin` makes a
    re-run serve exactly those again instead of resolving the refs a second time.
    """

    name: str

    def pin(self, versions: dict[str, str]) -> None: ...
    def prepare(self) -> dict[str, Any]: ...
    def versions(self) -> dict[str, str]: ...
    def warm_up(self, out: Path) -> StepEvidence: ...
    def set_weight(self, weight: int) -> None: ...
    def measure(self, weight: int, out: Path) -> StepEvidence: ...
    def promote(self) -> str: ...
    def rollback(self) -> str: ...
    def cleanup(self) -> None: ...


def _read(path: Path) -> dict[str, Any] | None:
    """A stage's JSON if it was written and parses, else None (never trust a partial file)."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


# The warm-up's load: streamed traffic of the steps' own shape, never judged. A server that has
# only answered the smoke eval is cold for it; the first step then read TTFT p95 393 ms against
# stable's 59 ms (stable had served `make load` before) on a 2-core CI machine, and rolled back
# a better candidate.
WARM_UP_LOAD_ARGS = ["DURATION=5"]


def smoke_with_make(
    runner: Runner,
    endpoint: str,
    version: str,
    out: Path,
    eval_args: list[str],
    load_args: list[str] | None = None,
) -> StepEvidence:
    """`make eval` against the canary alone, at weight 0: it must answer, and answer well
    enough, before any user request reaches it (judged by `gate.evaluate_smoke`); then a short
    ungated `make load` so the first step measures a warm canary, as stable is."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    target = out / "canary" / "eval"
    command = ["make", "eval", f"ENDPOINT={endpoint}", f"OUT={target}", *eval_args]
    code = runner.run([*command, f"MODEL_VERSION={version}"], check=False)
    summary = _read(target / "summary.json")
    if summary is not None:
        warm = ["make", "load", f"ENDPOINT={endpoint}", f"OUT={out / 'canary' / 'load'}"]
        runner.run([*warm, *(load_args or []), *WARM_UP_LOAD_ARGS], check=False)  # not judged
    problems = []
    if code and summary is None:
        problems.append(
            f"smoke `make eval` against the canary failed (exit {code}) and wrote no summary; "
            f"see {runner.log}"
        )
    return StepEvidence(
        weight=0,
        canary_eval=summary,
        problems=tuple(problems),
        served={"canary": {"endpoint": endpoint, "model_version": version}},
    )


def measure_with_make(
    runner: Runner,
    endpoints: dict[str, str],
    out: Path,
    weight: int,
    load_args: list[str],
    eval_args: list[str],
    concurrent: bool = True,
    versions: dict[str, str] | None = None,
) -> StepEvidence:
    """Eval and load both sides with the project's own targets, into a fresh directory per step.

    `concurrent` measures the two sides at the same time (separate hardware: GKE); otherwise
    one after the other, in an order that alternates between eval and load so neither side
    always goes first on a drifting machine. The directory is wiped first, so evidence from an
    earlier step or run can never be re-used. `make load` exits 1 on an SLO breach but still
    writes its summary: the gate reads the summary; a summary that is missing is what counts as
    no evidence.

    `versions` is the model version each side serves: `make eval` is told it (a remote endpoint
    cannot say; without it the summary reads `unknown`), and the gate checks that every
    document names it.
    """
    versions = versions or {}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    problems: list[str] = []
    for order, (kind, extra) in enumerate((("eval", eval_args), ("load", load_args))):
        sides = list(endpoints) if order % 2 == 0 else list(reversed(endpoints))
        commands = [
            [
                "make",
                kind,
                f"ENDPOINT={endpoints[s]}",
                f"OUT={out / s / kind}",
                *extra,
                # Last, so the controller's version wins over one in EVAL_ARGS.
                *([f"MODEL_VERSION={versions[s]}"] if kind == "eval" and versions.get(s) else []),
            ]
            for s in sides
        ]
        if concurrent:
            codes = runner.run_parallel(commands)
        else:
            codes = [runner.run(command, check=False) for command in commands]
        for side, code in zip(sides, codes, strict=True):
            if code and _read(out / side / kind / "summary.json") is None:
                problems.append(
                    f"`make {kind}` against {side} failed (exit {code}) and wrote no "
                    f"summary; see {runner.log}"
                )
    compare = None
    if all(_read(out / s / "eval" / "summary.json") for s in ("stable", "canary")):
        code = runner.run(
            [
                "make",
                "eval-compare",
                f"BASE={out / 'stable' / 'eval' / 'summary.json'}",
                f"HEAD={out / 'canary' / 'eval' / 'summary.json'}",
                f"OUT={out / 'compare'}",
            ],
            check=False,
        )
        compare = _read(out / "compare" / "compare.json")
        if compare is None and code:
            problems.append(f"`make eval-compare` failed (exit {code}); see {runner.log}")
    return StepEvidence(
        weight=weight,
        stable_load=_read(out / "stable" / "load" / "summary.json"),
        canary_load=_read(out / "canary" / "load" / "summary.json"),
        eval_compare=compare,
        stable_eval=_read(out / "stable" / "eval" / "summary.json"),
        canary_eval=_read(out / "canary" / "eval" / "summary.json"),
        problems=tuple(problems),
        served={
            side: {"endpoint": url, "model_version": versions.get(side, "")}
            for side, url in endpoints.items()
        },
    )


@dataclass
class LocalBackend:
    """Two local vLLM servers: stable serves `champion`, canary serves `candidate`.

    Servers already running under the two names are used as they are (e.g. the demo's stable
    server); the ones this backend starts are stopped when the canary ends.
    """

    runner: Runner
    serving_dir: Path
    load_args: list[str] = field(default_factory=list)
    eval_args: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=lambda: {"stable": "stable", "canary": "canary"})
    models: dict[str, str] = field(
        default_factory=lambda: {"stable": "champion", "canary": "candidate"}
    )
    name: str = "local"
    started: list[str] = field(default_factory=list)
    pinned: dict[str, str] = field(default_factory=dict)

    def pin(self, versions: dict[str, str]) -> None:
        """Serve these registry versions (a re-run of a tag), not the aliases again."""
        self.pinned = dict(versions)
        self.models = {**self.models, **self.pinned}

    def _server(self, side: str) -> dict[str, Any] | None:
        info = _read(self.serving_dir / f"{self.names[side]}.json")
        if info is None or not _alive(info.get("pid")):
            return None
        return info

    def prepare(self) -> dict[str, Any]:
        for side in ("stable", "canary"):
            if self._server(side) is None:
                # Recorded first: a cancel during `make serve` must still stop this server.
                self.started.append(side)
                self.runner.run(
                    ["make", "serve", f"MODEL={self.models[side]}", f"NAME={self.names[side]}"]
                )
        info = {side: self._server(side) for side in ("stable", "canary")}
        for side, server in info.items():
            if server is None:
                raise RuntimeError(
                    f"the {side} server is not running after `make serve NAME={self.names[side]}`"
                )
        if _identity(info["stable"]) == _identity(info["canary"]):
            raise ValueError(
                f"stable and canary serve the same model ({_identity(info['stable'])}): nothing "
                "to release; register a different candidate first (make train-candidate)"
            )
        for side, server in info.items():
            # The gate ties each step's evidence to the registry versions it judges.
            if not str(server.get("model_version", "")).isdigit():
                raise ValueError(
                    f"the {side} server serves {_identity(server)}, not a registered version: "
                    "the gate could not tell its evidence from another model's; serve a registry "
                    f"version (make serve MODEL=<alias or version> NAME={self.names[side]})"
                )
            pinned = self.pinned.get(side)
            if pinned and str(server.get("model_version")) != pinned:
                raise ValueError(
                    f"the {side} server serves version {server.get('model_version')}, but this "
                    f"release pinned version {pinned}: stop it (make serve-stop "
                    f"NAME={self.names[side]}) or start a new release"
                )
        return {
            side: {
                k: server.get(k)
                for k in (
                    "endpoint",
                    "model_version",
                    "model_digest",
                    "served_model_name",
                    "model_dir",
                )
            }
            for side, server in info.items()
        }

    def versions(self) -> dict[str, str]:
        return {
            side: str((self._server(side) or {}).get("model_version", ""))
            for side in ("stable", "canary")
        }

    def warm_up(self, out: Path) -> StepEvidence:
        """`make serve` returned once the canary answered; now it must pass the smoke eval."""
        server = self._server("canary")
        if server is None:
            return StepEvidence(weight=0, problems=("the canary server is not running",))
        version = str(server.get("model_version", ""))
        return smoke_with_make(
            self.runner, server["endpoint"], version, out, self.eval_args, self.load_args
        )

    def set_weight(self, weight: int) -> None:
        """No router locally: the weight is recorded, both servers are measured at every step."""

    def measure(self, weight: int, out: Path) -> StepEvidence:
        servers = {side: self._server(side) for side in ("stable", "canary")}
        dead = [side for side, info in servers.items() if info is None]
        if dead:
            return StepEvidence(
                weight=weight,
                problems=tuple(
                    f"the {side} server is not running (process gone); see its log under "
                    f"{self.serving_dir}"
                    for side in dead
                ),
            )
        endpoints = {side: info["endpoint"] for side, info in servers.items()}
        versions = {side: str(info.get("model_version", "")) for side, info in servers.items()}
        evidence = measure_with_make(
            self.runner,
            endpoints,
            out,
            weight,
            self.load_args,
            self.eval_args,
            concurrent=False,
            versions=versions,
        )
        died = [side for side in ("stable", "canary") if self._server(side) is None]
        if died:
            evidence = replace(
                evidence,
                problems=(
                    *evidence.problems,
                    *(f"the {side} server died during the step" for side in died),
                ),
            )
        return evidence

    def promote(self) -> str:
        canary = _read(self.serving_dir / f"{self.names['canary']}.json") or {}
        version = str(canary.get("model_version", ""))
        if not version.isdigit():
            raise RuntimeError(
                f"the canary serves model_version {version!r}, not a registered "
                "version: nothing to promote in the registry"
            )
        self.runner.run(["make", "registry-promote", f"VERSION={version}"])
        return f"MLflow alias `champion` moved to version {version}"

    def rollback(self) -> str:
        return "canary taken out of service; `champion` unchanged"

    def cleanup(self) -> None:
        for side in self.started:
            self.runner.run(["make", "serve-stop", f"NAME={self.names[side]}"], check=False)
        self.started.clear()


def _identity(server: dict[str, Any]) -> str:
    """A registered version names a model; an unregistered directory is named by its path."""
    version = str(server.get("model_version", ""))
    return f"version {version}" if version.isdigit() else f"directory {server.get('model_dir')}"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); /proc says whether it is really running.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@dataclass
class GkeBackend:
    """The weighted route in a Pulumi stack (needs the Pulumi CLI and GCP credentials)."""

    runner: Runner
    stack: str
    candidate: str
    infra_dir: str = "infra"
    load_args: list[str] = field(default_factory=list)
    eval_args: list[str] = field(default_factory=list)
    name: str = "gke"
    # Endpoints the gate measures; empty ones are read from the stack outputs
    # `serving_stable_endpoint` / `serving_canary_endpoint` (in-cluster Service URLs: the
    # runner must be in the cluster, or these are set to a tunnel's URLs).
    endpoints: dict[str, str] = field(default_factory=dict)
    # The registry version the candidate was published as, and the one stable serves (prepare).
    version: str = ""
    stable_version: str = ""
    # Versions a previous run of this release resolved: used as they are (`pin`).
    pinned: dict[str, str] = field(default_factory=dict)

    def pin(self, versions: dict[str, str]) -> None:
        # Known at once: a re-run rolls back to this stable before it prepares anything.
        self.pinned = dict(versions)
        self.stable_version = versions.get("stable", "")
        self.version = versions.get("canary", "")

    def _pulumi(self, *args: str) -> list[str]:
        return [
            "pulumi",
            *args,
            "--stack",
            self.stack,
            "--cwd",
            self.infra_dir,
            "--non-interactive",
        ]

    def _config(self, key: str, value: str | int, typed: str = "") -> None:
        # --path: `serving.canary_weight` is the key `canary_weight` inside the `serving` object.
        # With --path the CLI stores `7` as a YAML integer, `--type string` keeps it a string
        # (pulumi.com/docs/iac/cli/commands/pulumi_config_set): model refs are strings on purpose.
        typed = typed or ("string" if isinstance(value, str) else "")
        kind = ["--type", typed] if typed else []
        self.runner.run(self._pulumi("config", "set", "--path", *kind, key, str(value)))

    def _up(self) -> None:
        self.runner.run(self._pulumi("up", "--yes", "--skip-preview", "--diff"))

    def prepare(self) -> dict[str, Any]:
        if not self.candidate:
            raise ValueError(
                "CANDIDATE= is required for the gke backend (a registry alias or version, e.g. 7)"
            )
        self.stable_version = self.pinned.get("stable") or self._stable_version()
        # The tag's candidate is resolved once; a re-run publishes the version it pinned.
        self.version = self._publish(self.pinned.get("canary") or self.candidate)
        given = {side: url for side, url in self.endpoints.items() if url}
        if len(given) < 2:
            raw = self.runner.output(self._pulumi("stack", "output", "--json")) or "{}"
            outputs = json.loads(raw)
            given = {
                side: given.get(side) or outputs.get(f"serving_{side}_endpoint", "")
                for side in ("stable", "canary")
            }
        self.endpoints = given
        return {
            "stack": self.stack,
            "candidate": self.candidate,
            "version": self.version,
            "stable_version": self.stable_version,
            "endpoints": self.endpoints,
        }

    def _stable_version(self) -> str:
        """The version the stable track serves (`serving.stable_model`): its evidence is checked
        against it. An alias or the default is refused: what it names can change under us, and
        evals would cache answers under it."""
        try:
            ref = self.runner.output(
                self._pulumi("config", "get", "--path", "serving.stable_model")
            ).strip()
        except RuntimeError:
            ref = ""  # not set: the stack serves its default ref (`champion`)
        if self.runner.dry_run:
            return ref or "<stable_model>"
        if not ref.isdigit():
            what = f"`{ref}`" if ref else "the default alias `champion`"
            raise ValueError(
                f"stack {self.stack}: stable serves {what}, not a version number, so its "
                "evidence cannot be tied to a model; pin the version it serves: "
                "pulumi config set --path --type string serving.stable_model <version>"
            )
        return ref

    def versions(self) -> dict[str, str]:
        return {"stable": self.stable_version, "canary": self.version}

    def warm_up(self, out: Path) -> StepEvidence:
        """Deploy the canary with no traffic and wait for it (`pulumi up` returns once the
        Deployment is Ready), then smoke-eval it before the first step routes anything."""
        self._config("serving.canary_model", self.version)
        self._config("serving.canary_weight", 0)
        self._config("serving.canary_warm", "true", typed="bool")
        self._up()
        url = self.endpoints.get("canary", "")
        if not url:
            return StepEvidence(
                weight=0, problems=(f"stack {self.stack} has no endpoint for canary",)
            )
        return smoke_with_make(self.runner, url, self.version, out, self.eval_args, self.load_args)

    def _publish(self, ref: str) -> str:
        """Copy the candidate into the stack's model bucket (`make model-publish`), where the
        canary Deployment mounts `models/<registry>/<version>/`; returns that version."""
        bucket = self.runner.output(self._pulumi("stack", "output", "model_bucket")).strip()
        if not bucket:
            if not self.runner.dry_run:
                raise ValueError(
                    f"stack {self.stack} has no model_bucket output: "
                    f"run `make up STACK={self.stack}`"
                )
            bucket = "<model_bucket>"
        published = self.runner.output(
            ["make", "-s", "model-publish", f"MODEL={ref}", f"BUCKET=gs://{bucket}"]
        ).strip()
        # Its last stdout line is the JSON record (empty in a dry run).
        if not published:
            return ref
        return str(json.loads(published.splitlines()[-1])["version"])

    def set_weight(self, weight: int) -> None:
        self._config("serving.canary_weight", weight)
        self._up()

    def measure(self, weight: int, out: Path) -> StepEvidence:
        missing = [side for side, url in self.endpoints.items() if not url]
        if missing or not self.endpoints:
            return StepEvidence(
                weight=weight,
                problems=(
                    f"stack {self.stack} has no endpoint for {', '.join(missing) or 'any side'}",
                ),
            )
        versions = {"stable": self.stable_version, "canary": self.version}
        return measure_with_make(
            self.runner, self.endpoints, out, weight, self.load_args, self.eval_args, True, versions
        )

    def promote(self) -> str:
        version = self.version or self.candidate
        self._config("serving.stable_model", version)
        self._config("serving.canary_weight", 0)
        self._config("serving.canary_warm", "false", typed="bool")
        self._up()
        done = f"stack {self.stack}: stable now serves version {version}, canary weight 0"
        # The registry's champion follows what the stable track serves. Stable already serves
        # the candidate here, so a failure must not turn into a rollback: it is reported.
        promote = ["make", "-s", "registry-promote", f"VERSION={version}"]
        if self.runner.run(promote, check=False):
            return (
                f"{done}; WARNING: the registry's `champion` alias was not moved "
                f"(see {self.runner.log}); run `{' '.join(promote)}`"
            )
        return done

    def rollback(self) -> str:
        # Stable is set back explicitly: after a failed promotion this checkout's stack config
        # already names the candidate as stable, and an `up` with it would apply it.
        if self.stable_version:
            self._config("serving.stable_model", self.stable_version)
        self._config("serving.canary_weight", 0)
        self._config("serving.canary_warm", "false", typed="bool")
        self._up()
        return (
            f"stack {self.stack}: stable serves version {self.stable_version or '(unchanged)'}, "
            "canary weight 0, canary pods stopped"
        )

    def cleanup(self) -> None:
        """Nothing left to stop: rollback and promote park the canary (weight 0, not warm: no
        pods); a canary that never deployed has none."""
