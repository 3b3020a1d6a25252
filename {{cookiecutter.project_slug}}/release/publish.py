"""`make release-publish TAG=v1.2.3`: attach the release evidence to the GitHub Release.

Uses the `gh` CLI with the workflow's GITHUB_TOKEN (contents: write). Creates the release for
an existing tag if there is none yet, with the canary decision as its notes, then uploads the
decision and report files (replacing earlier uploads of the same name).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common.evidence import BUILD

EVIDENCE = (
    BUILD / "canary" / "decision.json",
    BUILD / "canary" / "decision.md",
    # The controller's state: a re-run of the tag reads it back (make release-state-fetch).
    BUILD / "canary" / "state.json",
    BUILD / "report" / "pr-comment.md",
    BUILD / "report" / "index.html",
)


def commands(tag: str, files: list[Path]) -> list[list[str]]:
    notes = BUILD / "canary" / "decision.md"
    create = ["gh", "release", "create", tag, "--verify-tag", "--title", tag]
    create += ["--notes-file", str(notes)] if notes.exists() else ["--notes", "No canary decision."]
    return [create, ["gh", "release", "upload", tag, "--clobber", *map(str, files)]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    files = [path for path in EVIDENCE if path.exists()]
    if not files:
        print(
            "ERROR: no evidence to attach (run make canary and make report first)", file=sys.stderr
        )
        return 2
    create, upload = commands(args.tag, files)
    exists = (
        subprocess.run(["gh", "release", "view", args.tag], capture_output=True).returncode == 0
    )
    for command in ([] if exists else [create]) + [upload]:
        if subprocess.run(command).returncode != 0:
            print(f"ERROR: `{' '.join(command)}` failed", file=sys.stderr)
            return 1
    print(f"attached {len(files)} evidence files to release {args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
