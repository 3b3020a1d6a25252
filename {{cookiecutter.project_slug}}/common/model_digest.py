"""A model's identity by content: one digest over the files that decide its answers.

The weights, tokenizer, chat template and configs, i.e. every file of the model directory except
the training's notes (which hold timings: two trainings to the same weights must have one
digest) and the publish step's MANIFEST.json. Each file is hashed as MANIFEST.json hashes it
(pipelines/publish_model.py: sha256 per file), so a published version's digest follows from its
manifest without downloading the weights, and a local directory's from its files.

Recorded in registry version tags (`model_digest`), the local server's record, eval manifests
and cache keys, and canary decisions: a name, version number or file time can be reused or
re-created, a digest cannot.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.evidence import sha256_file, sha256_text
from common.weights_check import NOT_MODEL_FILES

TAG = "model_digest"


def digest_of(file_sha256: dict[str, str]) -> str:
    """The digest of {relative path: sha256}, over the model's files only."""
    files = {p: h for p, h in file_sha256.items() if Path(p).name not in NOT_MODEL_FILES}
    if not files:
        raise ValueError("no model files to digest (config, weights, tokenizer)")
    return "sha256:" + sha256_text(json.dumps(files, sort_keys=True))


def model_digest(model_dir: Path) -> str:
    """The digest of a model directory (what vLLM or transformers would load from it)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{model_dir} is not a model directory (no config.json)")
    return digest_of(
        {
            path.relative_to(model_dir).as_posix(): sha256_file(path)
            for path in sorted(p for p in model_dir.rglob("*") if p.is_file())
        }
    )


def manifest_digest(manifest: dict) -> str:
    """The same digest from a publish MANIFEST.json ({"files": {path: {"sha256": ...}}})."""
    return digest_of({path: f["sha256"] for path, f in manifest["files"].items()})
