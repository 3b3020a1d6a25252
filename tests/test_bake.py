"""Bake supported and unsupported option combinations (cookiecutter-django style).

Supported bakes: exit 0, exactly the expected files, no template text left, every YAML/TOML/JSON
file parses, and (slow) the baked project's own `make lint` passes. Unsupported bakes: refused
with a message naming the option, and nothing left in the output directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_TEMPLATE, TEMPLATE, bake, run_make
from cookiecutter.exceptions import FailedHookException, UndefinedVariableInTemplate

sys.path.insert(0, str(TEMPLATE / "hooks"))
from template_rules import files_to_remove

SUPPORTED = {
    "default": {},
    "a100-on-demand-kubeflow-mit-hf": {
        "gpu_type": "nvidia-tesla-a100",
        "region": "europe-west4",
        "gpus_per_node": "2",
        "gpu_spot": False,
        "max_gpu_nodes": "4",
        "training_orchestrator": "kubeflow-endpoint",
        "kfp_endpoint": "https://kfp.example.com/pipeline",
        "license": "MIT",
        "base_model": "meta-llama/Llama-3.2-1B-Instruct",
    },
    "a100-80gb-spot-proprietary-gcs": {
        "gpu_type": "nvidia-a100-80gb",
        "region": "us-east4",
        "gpus_per_node": "4",
        "license": "Proprietary",
        "base_model": "gs://acme-models/base/llama",
    },
    "h100-8-on-demand": {
        "gpu_type": "nvidia-h100-80gb",
        "region": "us-west1",
        "gpus_per_node": "8",
        "gpu_spot": False,
        "max_gpu_nodes": "2",
    },
    "h100-1-spot-asia": {
        "gpu_type": "nvidia-h100-80gb",
        "region": "asia-southeast1",
        "gpus_per_node": "1",
    },
    "quoted-name-us-east1": {
        "project_name": 'Team\'s "Support" Bot',
        "region": "us-east1",
        "gcp_project_id": "acme-support-bot-01",
        "github_repository": "acme/support-bot",
        "team": "support_ml",
    },
}

UNSUPPORTED = {
    "project-id-uppercase": ({"gcp_project_id": "My-Project"}, "gcp_project_id='My-Project'"),
    "project-id-too-short": ({"gcp_project_id": "abc"}, "gcp_project_id='abc'"),
    "gpu-not-in-region": (
        {"gpu_type": "nvidia-a100-80gb", "region": "us-west1"},
        "region='us-west1': nvidia-a100-80gb is not offered there",
    ),
    "zero-gpu-nodes": ({"max_gpu_nodes": "0"}, "max_gpu_nodes='0'"),
    "negative-gpu-nodes": ({"max_gpu_nodes": "-2"}, "max_gpu_nodes='-2'"),
    "name-with-braces": ({"project_name": 'Bot "x" {name}'}, "project_name="),
    "slug-not-identifier": ({"project_slug": "My Slug!"}, "project_slug='My Slug!'"),
    "package-not-identifier": ({"package_name": "1pkg"}, "package_name='1pkg'"),
    "kubeflow-without-endpoint": (
        {"training_orchestrator": "kubeflow-endpoint"},
        "kfp_endpoint='': training_orchestrator=kubeflow-endpoint needs",
    ),
    "on-demand-h100-single-gpu": (
        {"gpu_type": "nvidia-h100-80gb", "gpu_spot": False},
        "a3-highgpu-1g is sold only as Spot",
    ),
    "base-model-url": ({"base_model": "https://example.com/model"}, "base_model="),
    "bad-github-repo": ({"github_repository": "just-a-name"}, "github_repository="),
}


def expected_files(answers: dict) -> set[str]:
    """Tracked files of the project template, minus the ones the options remove."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=PROJECT_TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tracked = {path for path in listed.split("\0") if path}
    removed = set(files_to_remove(answers))
    return (tracked - removed) | {".cruft.json"}


def generated_files(project: Path) -> set[str]:
    return {
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts[:1]
    }


def copied_without_render(relative: str) -> bool:
    patterns = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_copy_without_render"]
    return any(Path(relative).match(pattern) for pattern in patterns)


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_bake(baker, answers):
    project = baker(**answers)
    files = generated_files(project)
    assert files == expected_files({**_defaults(), **answers})
    for relative in sorted(files):
        path = project / relative
        text = path.read_text(errors="replace")
        assert "{{ cookiecutter" not in text and "{{cookiecutter" not in text, relative
        if not copied_without_render(relative):
            assert "{%" not in text, relative
        if path.suffix in {".yaml", ".yml"}:
            list(yaml.safe_load_all(text))
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)
    cruft = json.loads((project / ".cruft.json").read_text())
    assert cruft["template"] and cruft["context"]["cookiecutter"]["project_slug"] == project.name
    config = yaml.safe_load((project / "llmops.yaml").read_text())
    if "project_name" in answers:
        assert config["project"]["name"] == answers["project_name"]


@pytest.mark.parametrize(("answers", "message"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_unsupported_bake_is_refused_and_leaves_nothing(tmp_path, capfd, answers, message):
    out = tmp_path / "out"
    with pytest.raises((FailedHookException, UndefinedVariableInTemplate)):
        bake(out, **answers)
    assert message in capfd.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_jinja_in_an_answer_is_refused_not_rendered_into_files(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UndefinedVariableInTemplate):
        bake(out, project_name="{{ cookiecutter.missing }}")
    assert not out.exists() or not any(out.iterdir())


def test_generated_project_is_a_git_repository_with_files_staged(baker):
    project = baker()
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True, text=True
    ).stdout.split()
    assert "Makefile" in staged and "llmops.yaml" in staged


@pytest.mark.slow
@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_bake_passes_its_own_lint(baker, answers):
    project = baker(**answers)
    result = run_make(project, "lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _defaults() -> dict:
    raw = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    return {
        k: (v[0] if isinstance(v, list) else v) for k, v in raw.items() if not k.startswith("_")
    }
