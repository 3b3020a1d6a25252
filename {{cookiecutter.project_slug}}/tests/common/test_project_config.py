"""The project config (llmops.yaml) and the evidence helpers every stage uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from common.evidence import read_json, stamp, write_atomic, write_json
from common.project import ROOT, load_project


def test_generated_project_config_loads_and_matches_catalog():
    project = load_project()
    catalog = yaml.safe_load((ROOT / "catalog" / "gpu_availability.yaml").read_text())
    assert project.gpu.type in catalog["gpus"]
    assert project.gcp.region in catalog["gpus"][project.gpu.type]["zones"]
    assert project.gpu.per_node in catalog["gpus"][project.gpu.type]["machine_types"]
    assert project.model.served_name == project.project.slug


def test_unknown_key_in_project_config_is_refused(tmp_path: Path):
    raw = yaml.safe_load((ROOT / "llmops.yaml").read_text())
    raw["gpu"]["typo_field"] = 1
    path = tmp_path / "llmops.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValidationError, match="typo_field"):
        load_project.__wrapped__(path)


def test_stamp_names_producer_and_commit():
    document = stamp("test", dataset_hash="abc")
    assert document["producer"] == "test"
    assert document["dataset_hash"] == "abc"
    assert document["git_sha"]


def test_write_json_is_atomic_and_readable(tmp_path: Path):
    target = tmp_path / "out" / "summary.json"
    write_json(target, {"b": 1, "a": [1, 2]})
    assert read_json(target, "summary") == {"a": [1, 2], "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "report.md"
    write_atomic(target, "old")

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("common.evidence.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_read_json_says_what_is_missing_or_broken(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="eval summary not found"):
        read_json(tmp_path / "nope.json", "eval summary")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_json(bad, "eval summary")


def test_git_sha_says_uncommitted_or_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import subprocess

    from common.evidence import git_sha

    monkeypatch.delenv("GITHUB_SHA", raising=False)
    assert git_sha(tmp_path) == "unknown"  # not a repository
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert git_sha(tmp_path) == "uncommitted"  # a new project before its first commit
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    assert git_sha(tmp_path) == "abc123"
