"""The model's content digest: the same from its files and from its publish manifest, blind to
the training's notes, sensitive to any model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.evidence import sha256_file
from common.model_digest import manifest_digest, model_digest


def _model(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (root / "model.safetensors").write_bytes(b"\x00weights")
    (root / "tokenizer.json").write_text("{}")
    (root / "training_summary.json").write_text(json.dumps({"seconds": 12.3}))
    return root


def test_digest_is_the_manifests_and_ignores_training_notes(tmp_path):
    model = _model(tmp_path / "m")
    digest = model_digest(model)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in model.iterdir()}
    assert manifest_digest({"files": files}) == digest
    (model / "training_summary.json").write_text(json.dumps({"seconds": 99.0}))
    (model / "MANIFEST.json").write_text("{}")
    assert model_digest(model) == digest


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_any_model_file_changes_the_digest(tmp_path, name):
    model = _model(tmp_path / "m")
    digest = model_digest(model)
    (model / name).write_bytes((model / name).read_bytes() + b" ")
    assert model_digest(model) != digest


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ValueError, match="not a model directory"):
        model_digest(tmp_path)
    with pytest.raises(ValueError, match="no model files"):
        manifest_digest({"files": {"training_host.json": {"sha256": "x"}}})
