"""`make release-persist TAG=v1.2.3`: open the pull request that makes a promotion permanent.

The stack file on the default branch (`infra/Pulumi.<stack>.yaml`, key `serving.stable_model`)
owns which model version each track serves: `make up` applies it, and so does the next
release's canary. A promotion changes it only in the release job's checkout, so this opens a
pull request that sets it on the default branch; once merged, every `pulumi up` from it serves
the promoted version. Nothing else in the file changes.

Uses the `gh` CLI (GITHUB_TOKEN with contents: write and pull-requests: write) through the
REST API, so no Git credentials are stored in the checkout. Idempotent: a re-run finds the
branch, the commit or the pull request it made.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from common.evidence import BUILD

DECISION = BUILD / "canary" / "decision.json"
INFRA = Path("infra")


def project_name(infra: Path = INFRA) -> str:
    return str(yaml.safe_load((infra / "Pulumi.yaml").read_text())["name"])


def set_track_model(text: str, project: str, track: str, version: str) -> str:
    """The stack file with `<project>:serving.<track>_model` set to the string `version`, as
    `pulumi config set --path --type string` stores it; every other line is kept as it is."""
    key = f"{track}_model"
    lines = text.splitlines(keepends=True)
    header = next(
        (i for i, line in enumerate(lines) if line.rstrip() == f"  {project}:serving:"), None
    )
    if header is None:
        raise ValueError(f"no block `{project}:serving:` in the stack file's config")
    end = header + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith("    ")):
        end += 1
    children = [i for i in range(header + 1, end) if lines[i].strip()]
    indent = re.match(r" *", lines[children[0]]).group(0) if children else "    "
    entry = f"{indent}{key}: {json.dumps(version)}\n"
    found = [i for i in children if lines[i].startswith(f"{indent}{key}:")]
    if found:
        lines[found[0]] = entry
    else:
        lines.insert(header + 1, entry)
    updated = "".join(lines)
    _check(text, updated, project, key, version)
    return updated


def _check(before: str, after: str, project: str, key: str, version: str) -> None:
    """Parse both: the key must now be the string `version`, and nothing else may differ."""
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    serving = new["config"][f"{project}:serving"]
    if serving.get(key) != version:
        raise ValueError(f"editing the stack file did not set serving.{key} to {version!r}")
    old["config"][f"{project}:serving"].pop(key, None)
    serving.pop(key)
    if old != new:
        raise ValueError("editing the stack file changed more than serving." + key)


def gh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["gh", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"`gh {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def api(path: str, *fields: str, method: str = "GET") -> Any:
    return json.loads(gh("api", "-X", method, path, *fields).stdout or "{}")


def open_pull_request(tag: str, stack: str, version: str, base: str) -> str:
    path = f"infra/Pulumi.{stack}.yaml"
    branch = f"release/{tag}-{stack}"
    current = api(f"repos/{{owner}}/{{repo}}/contents/{path}?ref={base}")
    text = base64.b64decode(current["content"]).decode()
    updated = set_track_model(text, project_name(), "stable", version)
    if updated == text:
        return f"{path} on {base} already serves version {version}: nothing to change"
    ref = f"repos/{{owner}}/{{repo}}/git/ref/heads/{branch}"
    exists = gh("api", "-X", "GET", ref, check=False)
    if exists.returncode != 0:
        head = api(f"repos/{{owner}}/{{repo}}/git/ref/heads/{base}")["object"]["sha"]
        api(
            "repos/{owner}/{repo}/git/refs",
            "-f",
            f"ref=refs/heads/{branch}",
            "-f",
            f"sha={head}",
            method="POST",
        )
    on_branch = api(f"repos/{{owner}}/{{repo}}/contents/{path}?ref={branch}")
    if base64.b64decode(on_branch["content"]).decode() != updated:
        api(
            f"repos/{{owner}}/{{repo}}/contents/{path}",
            "-f",
            f"message=release {tag}: {stack} serves model version {version}",
            "-f",
            f"content={base64.b64encode(updated.encode()).decode()}",
            "-f",
            f"sha={on_branch['sha']}",
            "-f",
            f"branch={branch}",
            method="PUT",
        )
    listed = json.loads(gh("pr", "list", "--head", branch, "--json", "url").stdout or "[]")
    if listed:
        return f"pull request already open: {listed[0]['url']}"
    body = (
        f"The canary of `{tag}` promoted model version {version} on stack `{stack}`. "
        f"This sets `serving.stable_model` in `{path}` so that the next `pulumi up` from "
        f"`{base}` keeps serving it. Merge it before the next release or `make up "
        f"STACK={stack}`: until then the committed file still names the previous version."
    )
    title = f"release {tag}: {stack} serves model version {version}"
    created = gh("pr", "create", "--base", base, "--head", branch, "--title", title, "--body", body)
    return f"opened {created.stdout.strip()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--base", default="main", help="the branch `make up` deploys from")
    parser.add_argument("--decision", type=Path, default=DECISION)
    args = parser.parse_args(argv)
    try:
        decision = json.loads(args.decision.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"ERROR: no canary decision to persist ({error})", file=sys.stderr)
        return 2
    version = str((decision.get("versions") or {}).get("canary") or "")
    if decision.get("verdict") != "promoted":
        print(f"==> nothing to persist: the canary was {decision.get('verdict')}")
        return 0
    if decision.get("backend") != "gke" or not version.isdigit():
        print(f"ERROR: a promoted gke decision names no version ({version!r})", file=sys.stderr)
        return 2
    try:
        print(f"==> {open_pull_request(args.tag, args.stack, version, args.base)}")
    except (RuntimeError, ValueError, KeyError) as error:
        print(f"ERROR: could not persist the promotion: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
