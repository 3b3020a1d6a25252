"""A CI cancel (SIGINT, then SIGTERM) reaching a real `python -m release.canary` mid-step.

`pulumi` and `make` are stubs on PATH (no cloud here): they record their arguments, answer
what the stack and the registry would, and the step's `make eval` hangs like a stuck
measurement. The controller must stop it, put traffic back on stable and say so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PULUMI = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(["pulumi", *args]) + "\\n")
if args[:2] == ["config", "get"]:
    print("3")
elif args[:3] == ["stack", "output", "model_bucket"]:
    print("acme-models")
elif args[:3] == ["stack", "output", "--json"]:
    print(json.dumps({"serving_stable_endpoint": "http://stable/v1",
                      "serving_canary_endpoint": "http://canary/v1"}))
"""

MAKE = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(["make", *args]) + "\\n")
var = dict(a.split("=", 1) for a in args if "=" in a)
if "model-publish" in args:
    print(json.dumps({"version": "7", "status": "published"}))
elif "eval" in args and "warmup" in var["OUT"]:  # the smoke eval passes
    os.makedirs(var["OUT"], exist_ok=True)
    model = {"model_version": var["MODEL_VERSION"], "endpoint": var["ENDPOINT"]}
    metrics = {m: {"mean": 0.95} for m in ("label_accuracy", "format_validity", "refusal")}
    summary = {"cases": [{}] * 333, "metrics": metrics, "manifest": {"model": model}}
    with open(os.path.join(var["OUT"], "summary.json"), "w") as out:
        json.dump(summary, out)
elif "eval" in args:  # a step's measurement that never returns
    with open(os.environ["HANG_PID"], "w") as out:
        out.write(str(os.getpid()))
    os.execvp("sleep", ["sleep", "300"])
"""


def test_a_cancelled_release_rolls_back_and_stops_what_it_started(tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in (("pulumi", PULUMI), ("make", MAKE)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    log, hang, out = tmp_path / "calls.jsonl", tmp_path / "hang.pid", tmp_path / "canary"
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "HANG_PID": str(hang),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "release.canary", "--backend", "gke", "--stack", "prod"]
    command += ["--candidate", "candidate", "--out", str(out), "--tag", "v9.9.9"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not hang.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hang.exists(), "the step's measurement never started"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # as a CI runner cancels: SIGINT, then SIGTERM
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, stdout

    decision = json.loads((out / "decision.json").read_text())
    assert decision["verdict"] == "rolled_back"
    assert decision["reason"] == "canary aborted: cancelled by SIGINT"
    assert decision["traffic"] == {"stable": "3", "canary_weight": 0}
    assert "canary pods stopped" in decision["action"]
    # The hanging measurement was stopped with the controller's own process group kill.
    pid = int(hang.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    pulumi = [c[1:] for c in calls if c[0] == "pulumi"]
    tail = ["--stack", "prod", "--cwd", "infra", "--non-interactive"]
    assert pulumi[-4:] == [
        ["config", "set", "--path", "--type", "string", "serving.stable_model", "3", *tail],
        ["config", "set", "--path", "serving.canary_weight", "0", *tail],
        ["config", "set", "--path", "--type", "bool", "serving.canary_warm", "false", *tail],
        ["up", "--yes", "--skip-preview", "--diff", *tail],
    ]
    assert ["config", "set", "--path", "serving.canary_weight", "10", *tail] in pulumi
    # Not a verdict of the gate: a re-run of the tag restarts on the pinned versions.
    state = json.loads((out / "state.json").read_text())
    assert state["phase"] == "rolled_back" and state["versions"] == {"stable": "3", "canary": "7"}
