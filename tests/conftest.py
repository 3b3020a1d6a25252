"""Bake helpers for the template's tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}"
# Component environments shared by all bakes (keyed by lock hash, see scripts/venv.sh).
VENVS = Path(os.environ.get("VENVS", TEMPLATE / "build" / "venvs"))


def bake(output_dir: Path, **answers: object) -> Path:
    """Generate a project non-interactively and return its directory."""
    result = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(output_dir),
        extra_context={k: v for k, v in answers.items()},
    )
    return Path(result)


def run_make(
    project: Path, *targets: str, timeout: int = 3600, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "VENVS": str(VENVS), **(extra_env or {})}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def baker(tmp_path: Path):
    def _bake(**answers: object) -> Path:
        return bake(tmp_path, **answers)

    return _bake
