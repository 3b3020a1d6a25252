"""Helpers for the evals tests: small summaries and tmp copies of datasets, prompts and suites."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.project import ROOT


@pytest.fixture
def evals_copy(tmp_path: Path) -> Path:
    """A writable copy of evals/ (suite, datasets, prompts) to break on purpose."""
    target = tmp_path / "evals"
    shutil.copytree(ROOT / "evals", target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    suite = target / "suite.yaml"
    text = suite.read_text().replace("path: evals/", f"path: {target}/")
    suite.write_text(text)
    return target
