"""The weights check a vLLM Pod runs before it serves (common/weights_check.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common import weights_check


def published(tmp_path: Path) -> Path:
    """A model directory with the manifest pipelines/publish_model.py writes (`bytes`, sha256)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"\x00" * 1024)
    (model / "training_summary.json").write_text("{}")
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": weights_check.sha256_of(p)}
        for p in model.iterdir()
    }
    (model / "MANIFEST.json").write_text(json.dumps({"version": "3", "files": files}))
    return model


def test_the_published_version_passes(tmp_path):
    assert weights_check.problems(published(tmp_path)) == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda m: (m / "model.safetensors").write_bytes(b"\x01" * 1024), "sha256 differs"),
        (lambda m: (m / "model.safetensors").write_bytes(b"\x00" * 10), "10 bytes"),
        (lambda m: (m / "config.json").unlink(), "config.json: listed in MANIFEST.json, missing"),
        (lambda m: (m / "adapter.safetensors").write_bytes(b"x"), "adapter.safetensors: not in"),
        (lambda m: (m / "MANIFEST.json").unlink(), "not a published version"),
        (lambda m: (m / "MANIFEST.json").write_text("[]"), "not a publish manifest"),
    ],
)
def test_any_difference_from_the_manifest_is_named(tmp_path, change, needle):
    model = published(tmp_path)
    change(model)
    found = weights_check.problems(model)
    assert any(needle in problem for problem in found), found


def test_as_the_init_container_runs_it_a_difference_exits_1(tmp_path):
    model = published(tmp_path)
    script = Path(weights_check.__file__)
    ok = subprocess.run([sys.executable, str(script), str(model)], capture_output=True, text=True)
    assert ok.returncode == 0 and "weights match" in ok.stdout
    (model / "model.safetensors").write_bytes(b"\x02" * 1024)
    bad = subprocess.run([sys.executable, str(script), str(model)], capture_output=True, text=True)
    assert bad.returncode == 1 and "not the published version" in bad.stderr
    usage = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert usage.returncode == 2
