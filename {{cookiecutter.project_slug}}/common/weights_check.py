"""Refuse to serve weights that are not the published version: the check a vLLM Pod runs first.

A published version (pipelines/publish_model.py) carries MANIFEST.json: the size (`bytes`)
and sha256 of every file. Before vLLM starts, the Pod's init container runs this file against
the mounted weights: every listed file must be there with its size and hash, and no model file
may be there that the manifest does not list (an added adapter or config would change the
answers as surely as a changed weight). Any difference exits 1 naming each file, so the Pod
never turns Ready on weights nobody published.

Standard library only, one file: it runs in the upstream vLLM image, mounted from a ConfigMap
(infra/serving/mounts.py), exactly as it runs here.

    python common/weights_check.py MODEL_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

MANIFEST = "MANIFEST.json"
# Files of a model directory that do not decide its answers: the training's notes (timings) and
# the manifest itself. common/model_digest.py leaves the same files out of the model's digest.
NOT_MODEL_FILES = frozenset({"training_summary.json", "training_host.json", MANIFEST})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problems(model_dir: Path) -> list[str]:
    """Every way the directory differs from its manifest (empty: it is the published version)."""
    manifest_path = model_dir / MANIFEST
    if not manifest_path.is_file():
        return [
            f"{model_dir} has no {MANIFEST}: not a published version (publish it with"
            " `make model-publish`, which writes the manifest last)"
        ]
    try:
        listed = json.loads(manifest_path.read_text())["files"]
    except (ValueError, KeyError, TypeError) as error:
        return [f"{manifest_path} is not a publish manifest ({error!r})"]
    found = []
    for relative, expected in sorted(listed.items()):
        path = model_dir / relative
        if not path.is_file():
            found.append(f"{relative}: listed in {MANIFEST}, missing")
        elif (size := path.stat().st_size) != expected["bytes"]:
            found.append(f"{relative}: {size} bytes, {MANIFEST} says {expected['bytes']}")
        elif sha256_of(path) != expected["sha256"]:
            found.append(f"{relative}: sha256 differs from {MANIFEST}")
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir).as_posix()
        if relative not in listed and path.name not in NOT_MODEL_FILES:
            found.append(f"{relative}: not in {MANIFEST}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: weights_check.py MODEL_DIR (a directory)", file=sys.stderr)
        return 2
    model_dir = Path(args[0])
    found = problems(model_dir)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    if found:
        print(f"ERROR: {model_dir} is not the published version; not serving it", file=sys.stderr)
        return 1
    print(f"weights match {model_dir / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
