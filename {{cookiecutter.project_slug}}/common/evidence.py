"""Evidence on disk: every decision is a JSON file (for machines) plus Markdown (for people).

Each JSON document carries a `stamp` saying what produced it (git SHA, time, producer, and
whatever hashes/versions the caller adds). Files are written atomically, so a crash never
leaves a half-written report for a later stage to trust.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from common.project import ROOT
from common.weights_check import sha256_of

BUILD = ROOT / "build"
# One file hash everywhere: the stdlib one the Pods' weights check runs with.
sha256_file = sha256_of


def git_sha(root: Path = ROOT) -> str:
    """The commit being evaluated; `GITHUB_SHA` wins in CI. 'uncommitted' in a repository with
    no commit yet (a freshly generated project), 'unknown' outside a repository."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    result = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    sha = result.stdout.strip()
    if result.returncode != 0 or not sha:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--git-dir"], capture_output=True, text=True
        )
        return "uncommitted" if inside.returncode == 0 else "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    return f"{sha}-dirty" if dirty else sha


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stamp(producer: str, **extra: Any) -> dict[str, Any]:
    return {
        "producer": producer,
        "git_sha": git_sha(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o644)  # evidence is for reading; mkstemp would leave it owner-only
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, document: dict[str, Any]) -> Path:
    return write_atomic(path, json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON evidence file, or fail with a message that says which stage makes it."""
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}; run the stage that writes it first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} at {path} is not valid JSON: {error}") from error
