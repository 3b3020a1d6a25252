"""A promotion is persisted on the default branch: the stack file edit and the pull request.

`gh` is a stub on PATH that keeps a tiny repository (branch -> files) in a directory and
answers the REST calls `release.persist` makes, as GitHub's contents and refs APIs do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release.persist import project_name, set_track_model

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = ROOT / "infra" / "Pulumi.prod.yaml"
PROJECT = project_name(ROOT / "infra")

GH = """#!/usr/bin/env python3
import base64, json, os, shutil, sys
repo = os.environ["STUB_REPO"]
args = sys.argv[1:]
fields = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-f")
with open(os.path.join(repo, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "api":
    method, path = args[2], args[3]
    if "/contents/" in path:
        name, _, ref = path.split("/contents/")[1].partition("?ref=")
        ref = ref or fields.get("branch")
        target = os.path.join(repo, ref, name)
        if method == "PUT":
            with open(target, "wb") as out:
                out.write(base64.b64decode(fields["content"]))
            print("{}")
        else:
            data = open(target, "rb").read()
            print(json.dumps({"content": base64.b64encode(data).decode(), "sha": "blob-" + ref}))
    elif "/git/ref/heads/" in path:
        branch = path.split("/git/ref/heads/")[1]
        if not os.path.isdir(os.path.join(repo, branch)):
            sys.exit(1)
        print(json.dumps({"object": {"sha": "head-" + branch}}))
    elif path.endswith("/git/refs") and method == "POST":
        shutil.copytree(os.path.join(repo, "main"), os.path.join(repo, fields["ref"][11:]))
        print("{}")
elif args[:2] == ["pr", "list"]:
    prs = os.path.join(repo, "prs.json")
    print(open(prs).read() if os.path.exists(prs) else "[]")
elif args[:2] == ["pr", "create"]:
    url = "https://github.com/acme/llm/pull/1"
    with open(os.path.join(repo, "prs.json"), "w") as out:
        json.dump([{"url": url}], out)
    print(url)
"""


def test_the_edit_sets_only_the_stable_model_as_a_string():
    text = STACK_FILE.read_text()
    updated = set_track_model(text, PROJECT, "stable", "7")
    serving = yaml.safe_load(updated)["config"][f"{PROJECT}:serving"]
    assert serving["stable_model"] == "7"  # a string, as `--type string` stores it
    before = text.splitlines()
    after = updated.splitlines()
    assert [line for line in after if line not in before] == ['    stable_model: "7"']
    assert set_track_model(updated, PROJECT, "stable", "7") == updated


def test_the_edit_replaces_a_value_the_cli_stored_as_an_integer():
    text = STACK_FILE.read_text().replace(
        f"  {PROJECT}:serving:\n", f"  {PROJECT}:serving:\n    stable_model: 3\n"
    )
    updated = set_track_model(text, PROJECT, "stable", "8")
    assert yaml.safe_load(updated)["config"][f"{PROJECT}:serving"]["stable_model"] == "8"
    assert "stable_model: 3" not in updated


def test_a_stack_file_without_a_serving_block_is_refused():
    with pytest.raises(ValueError, match="no block"):
        set_track_model("config:\n  other:key: 1\n", PROJECT, "stable", "7")


def run_persist(tmp_path: Path, decision: dict) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "gh").write_text(GH)
    (stubs / "gh").chmod(0o755)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(decision))
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_REPO": str(tmp_path / "repo"),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "release.persist", "--tag", "v1.2.3", "--decision", str(path)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


PROMOTED = {"backend": "gke", "verdict": "promoted", "versions": {"stable": "3", "canary": "7"}}


def test_a_promotion_opens_one_pull_request_that_main_then_serves(tmp_path):
    main = tmp_path / "repo" / "main" / "infra"
    main.mkdir(parents=True)
    shutil.copy(STACK_FILE, main / "Pulumi.prod.yaml")
    first = run_persist(tmp_path, PROMOTED)
    assert first.returncode == 0, first.stderr
    assert "opened https://github.com/acme/llm/pull/1" in first.stdout
    branch = tmp_path / "repo" / "release" / "v1.2.3-prod" / "infra" / "Pulumi.prod.yaml"
    config = yaml.safe_load(branch.read_text())["config"]
    assert config[f"{PROJECT}:serving"]["stable_model"] == "7"
    # What `make up` reads once the pull request is merged; main itself is untouched until then.
    assert (main / "Pulumi.prod.yaml").read_text() == STACK_FILE.read_text()
    again = run_persist(tmp_path, PROMOTED)  # a re-run of the release's publish job
    assert again.returncode == 0 and "pull request already open" in again.stdout
    calls = [json.loads(line) for line in (tmp_path / "repo" / "calls.jsonl").open()]
    assert sum(c[:2] == ["pr", "create"] for c in calls) == 1
    assert sum(c[:3] == ["api", "-X", "PUT"] for c in calls) == 1


@pytest.mark.parametrize("verdict", ["rolled_back", "refused", "rollback_failed"])
def test_nothing_is_persisted_unless_promoted(tmp_path, verdict):
    result = run_persist(tmp_path, {**PROMOTED, "verdict": verdict})
    assert result.returncode == 0 and "nothing to persist" in result.stdout
    assert not (tmp_path / "repo").exists()
