"""Fixtures shared by every component's tests (imported by each env's pytest: stdlib only).

trained_model_dir  the small model the pipeline code trains (`make test-model`), a Path
vllm_server        a real local vLLM CPU server on that model (`make serve`), the parsed
                   build/serving/<name>.json: endpoint (ends in /v1), served_model_name,
                   port, pid, model_dir, log; always stopped with `make serve-stop`
guard_server       the same for the small output-side guard (`make guard-model`)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `make -s ARGS` in the project; fail the test with the output tail on error."""
    result = subprocess.run(
        ["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(f"`make {' '.join(args)}` exited {result.returncode}:\n{tail}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def trained_model_dir() -> Path:
    make("test-model")
    path = ROOT / "build" / "test-model"
    assert (path / "config.json").is_file(), f"`make test-model` left no model in {path}"
    return path


def _served(model: Path, name: str):
    try:
        make("serve", f"MODEL={model}", f"NAME={name}")
        yield json.loads((ROOT / "build" / "serving" / f"{name}.json").read_text())
    finally:
        subprocess.run(["make", "-s", "serve-stop", f"NAME={name}"], cwd=ROOT, timeout=120)


@pytest.fixture(scope="session")
def vllm_server(trained_model_dir: Path):
    yield from _served(trained_model_dir, f"pytest-{os.getpid()}")


@pytest.fixture(scope="session")
def guard_server():
    """The small output-side guard (`make guard-model`, pipelines/guard.py), served by vLLM."""
    make("guard-model")
    yield from _served(ROOT / "build" / "test-guard", f"pytest-guard-{os.getpid()}")
