"""Rules for cookiecutter answers, shared by the hooks and the template's tests.

Plain Python with no Jinja: the hooks pass the answers in as JSON, so a value with quotes
or Jinja-like text is data here, never code. Every rule returns messages that name the
option, the bad value and what would be valid.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any

import yaml

CATALOG_RELATIVE = Path("{{cookiecutter.project_slug}}") / "catalog" / "gpu_availability.yaml"
EMBEDDED_MODEL = "embedded-tiny-llama"

PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
HF_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
GCS_RE = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\s]*)?$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
NAME_RE = re.compile(r"^[\w .,'\"()&+-]{1,80}$")
MAX_GPU_NODES = 64


class AnswerError(ValueError):
    """A cookiecutter answer that cannot produce a working project."""


def load_catalog(repo_dir: str | Path) -> dict[str, Any]:
    return yaml.safe_load((Path(repo_dir) / CATALOG_RELATIVE).read_text())


def _bad(option: str, value: Any, rule: str) -> str:
    return f"{option}={value!r}: {rule}"


def machine_type_for(catalog: dict[str, Any], gpu_type: str, gpus_per_node: int) -> str:
    return catalog["gpus"][gpu_type]["machine_types"][gpus_per_node]


def check_answers(answers: dict[str, Any], catalog: dict[str, Any]) -> list[str]:
    """Return one message per wrong answer (empty when all are valid)."""
    errors: list[str] = []
    name = str(answers["project_name"])
    if not NAME_RE.match(name) or "{" in name or "}" in name:
        errors.append(
            _bad(
                "project_name",
                name,
                "use 1-80 letters, digits, spaces and simple punctuation "
                "(no braces or line breaks)",
            )
        )

    slug = str(answers["project_slug"])
    if not SLUG_RE.match(slug) or "--" in slug:
        errors.append(
            _bad(
                "project_slug",
                slug,
                "use 3-24 lower-case letters, digits and single hyphens, starting with a letter "
                "and not ending with a hyphen (it prefixes GCP resource names), e.g. 'llm-service'",
            )
        )

    package = str(answers["package_name"])
    if not package.isidentifier() or keyword.iskeyword(package) or package != package.lower():
        errors.append(
            _bad(
                "package_name",
                package,
                "must be a lower-case Python identifier that is not a keyword, e.g. 'llm_service'",
            )
        )

    project_id = str(answers["gcp_project_id"])
    if not PROJECT_ID_RE.match(project_id) or "google" in project_id:
        errors.append(
            _bad(
                "gcp_project_id",
                project_id,
                "GCP project ids are 6-30 characters of lower-case letters, digits and hyphens, "
                "start with a letter, do not end with a hyphen and do not contain 'google', "
                "e.g. 'acme-llm-prod'",
            )
        )

    gpu_type = str(answers["gpu_type"])
    region = str(answers["region"])
    gpus = catalog["gpus"]
    if gpu_type not in gpus:
        errors.append(_bad("gpu_type", gpu_type, f"choose one of {sorted(gpus)}"))
    elif region not in gpus[gpu_type]["zones"]:
        offered = sorted(gpus[gpu_type]["zones"])
        errors.append(
            _bad(
                "region",
                region,
                f"{gpu_type} is not offered there (catalog as of {catalog['as_of']}); "
                f"regions with {gpu_type}: {offered}",
            )
        )

    per_node_raw = answers["gpus_per_node"]
    per_node = _as_int(per_node_raw)
    if gpu_type in gpus:
        shapes = gpus[gpu_type]["machine_types"]
        if per_node not in shapes:
            errors.append(_bad("gpus_per_node", per_node_raw, f"choose one of {sorted(shapes)}"))
        elif not _as_bool(answers["gpu_spot"]):
            machine = shapes[per_node]
            if machine in gpus[gpu_type]["spot_only_machine_types"]:
                errors.append(
                    _bad(
                        "gpu_spot",
                        answers["gpu_spot"],
                        f"{machine} is sold only as Spot capacity; answer gpu_spot=yes, or "
                        f"gpus_per_node=8 for on-demand {gpu_type}",
                    )
                )

    max_nodes = _as_int(answers["max_gpu_nodes"])
    # One GPU node per serving replica plus a spare: a rollout surges one Pod and the release
    # warms the canary beside stable (infra/config.py ROLLOUT_SPARE_NODES).
    if max_nodes is None or not 2 <= max_nodes <= MAX_GPU_NODES:
        errors.append(
            _bad(
                "max_gpu_nodes",
                answers["max_gpu_nodes"],
                f"a whole number from 2 to {MAX_GPU_NODES}: one node per serving replica plus"
                " one spare for rollouts and the canary (pools always scale from zero)",
            )
        )

    base_model = str(answers["base_model"])
    if not (base_model == EMBEDDED_MODEL or HF_ID_RE.match(base_model) or GCS_RE.match(base_model)):
        errors.append(
            _bad(
                "base_model",
                base_model,
                f"use '{EMBEDDED_MODEL}', a Hugging Face id like 'meta-llama/Llama-3.2-1B', "
                "or a gs:// path like 'gs://my-bucket/models/base'",
            )
        )

    orchestrator = str(answers["training_orchestrator"])
    endpoint = str(answers["kfp_endpoint"]).strip()
    if orchestrator == "kubeflow-endpoint" and not URL_RE.match(endpoint):
        errors.append(
            _bad(
                "kfp_endpoint",
                endpoint,
                "training_orchestrator=kubeflow-endpoint needs the endpoint's http(s) URL, "
                "e.g. 'https://kfp.example.com/pipeline'",
            )
        )
    if orchestrator == "vertex-ai-pipelines" and endpoint:
        errors.append(
            _bad(
                "kfp_endpoint",
                endpoint,
                "only used with training_orchestrator=kubeflow-endpoint; leave it empty",
            )
        )

    repository = str(answers["github_repository"])
    if not GITHUB_REPO_RE.match(repository):
        errors.append(
            _bad(
                "github_repository",
                repository,
                "use owner/name as on GitHub, e.g. 'acme/llm-service' (Workload Identity "
                "Federation trusts exactly this repository)",
            )
        )

    for option in ("team", "cost_center"):
        value = str(answers[option])
        if not LABEL_VALUE_RE.match(value):
            errors.append(
                _bad(
                    option,
                    value,
                    "it becomes a GCP label value: 1-63 lower-case letters, digits, '-' or '_'",
                )
            )
    return errors


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"y", "yes", "true", "1", "on"}


def derived_settings(answers: dict[str, Any], catalog: dict[str, Any]) -> dict[str, Any]:
    """Values that follow from the answers (valid answers only)."""
    gpu = catalog["gpus"][answers["gpu_type"]]
    per_node = int(answers["gpus_per_node"])
    return {
        "machine_type": gpu["machine_types"][per_node],
        "gpu_zones": gpu["zones"][answers["region"]],
        "gpu_spot": _as_bool(answers["gpu_spot"]),
        "max_gpu_nodes": int(answers["max_gpu_nodes"]),
        "gpus_per_node": per_node,
    }


# Files only one option value needs, relative to the generated project.
OPTIONAL_FILES: dict[tuple[str, str], list[str]] = {
    ("training_orchestrator", "vertex-ai-pipelines"): ["pipelines/submit_kfp.py"],
    ("training_orchestrator", "kubeflow-endpoint"): ["pipelines/submit_vertex.py"],
    ("license", "Proprietary"): ["LICENSE"],
}


def files_to_remove(answers: dict[str, Any]) -> list[str]:
    removed: list[str] = []
    for (option, value), paths in OPTIONAL_FILES.items():
        if str(answers.get(option)) == value:
            removed.extend(paths)
    return removed
