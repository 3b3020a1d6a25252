"""Unit tests for the answer rules the pre-generation hook applies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE / "hooks"))

from template_rules import (  # noqa: E402
    check_answers,
    derived_settings,
    files_to_remove,
    load_catalog,
)

CATALOG = load_catalog(TEMPLATE)


def defaults() -> dict:
    raw = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    answers = {
        k: (v[0] if isinstance(v, list) else v) for k, v in raw.items() if not k.startswith("_")
    }
    answers.update(project_slug="llm-service", package_name="llm_service")
    answers["github_repository"] = "my-org/llm-service"
    return answers


def errors_for(**changes: object) -> list[str]:
    return check_answers({**defaults(), **changes}, CATALOG)


def test_defaults_are_valid():
    assert errors_for() == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("gcp_project_id", "short"),
        ("gcp_project_id", "Upper-Case-Id"),
        ("gcp_project_id", "1starts-with-digit"),
        ("gcp_project_id", "ends-with-hyphen-"),
        ("gcp_project_id", "has_underscore_id"),
        ("gcp_project_id", "a" * 31),
        ("gcp_project_id", "my-google-project"),
        ("project_slug", "Not_A_Slug"),
        ("project_slug", "1abc"),
        ("project_slug", "double--hyphen"),
        ("project_slug", "x" * 25),
        ("package_name", "not-an-identifier"),
        ("package_name", "class"),
        ("package_name", "CamelCase"),
        ("project_name", 'bad {{ "jinja" }}'),
        ("project_name", "line\nbreak"),
        ("project_name", ""),
        ("max_gpu_nodes", "0"),
        ("max_gpu_nodes", "1"),  # no spare node for a rollout or the canary
        ("max_gpu_nodes", "-1"),
        ("max_gpu_nodes", "65"),
        ("max_gpu_nodes", "two"),
        ("max_gpu_nodes", "1.5"),
        ("gpus_per_node", "3"),
        ("base_model", "not a model"),
        ("base_model", "gs://"),
        ("base_model", "https://huggingface.co/meta-llama/Llama-3.2-1B"),
        ("github_repository", "no-slash"),
        ("github_repository", "owner/repo/extra"),
        ("team", "Has Spaces"),
        ("cost_center", "UPPER"),
        ("gpu_type", "nvidia-tesla-t4"),
    ],
)
def test_bad_answer_is_named_with_its_value(option, value):
    errors = errors_for(**{option: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{option}={value!r}:")


def test_gpu_not_offered_in_region_names_the_regions_that_have_it():
    (error,) = errors_for(gpu_type="nvidia-tesla-a100", region="us-east4")
    assert error.startswith("region='us-east4': nvidia-tesla-a100 is not offered there")
    assert "us-central1" in error


def test_on_demand_small_h100_shape_is_refused_but_eight_gpus_are_fine():
    (error,) = errors_for(gpu_type="nvidia-h100-80gb", gpus_per_node="1", gpu_spot=False)
    assert "a3-highgpu-1g is sold only as Spot" in error
    assert errors_for(gpu_type="nvidia-h100-80gb", gpus_per_node="8", gpu_spot=False) == []


def test_kubeflow_endpoint_required_and_only_with_kubeflow():
    (error,) = errors_for(training_orchestrator="kubeflow-endpoint", kfp_endpoint="")
    assert error.startswith("kfp_endpoint=''")
    (error,) = errors_for(kfp_endpoint="https://kfp.example.com")
    assert "only used with training_orchestrator=kubeflow-endpoint" in error
    assert (
        errors_for(
            training_orchestrator="kubeflow-endpoint", kfp_endpoint="https://kfp.example.com"
        )
        == []
    )


@pytest.mark.parametrize(
    "base_model", ["embedded-tiny-llama", "meta-llama/Llama-3.2-1B", "gs://bucket/models/base"]
)
def test_supported_base_models(base_model):
    assert errors_for(base_model=base_model) == []


def test_every_error_is_reported_at_once():
    errors = errors_for(gcp_project_id="X", max_gpu_nodes="0", team="Bad Team")
    assert [e.split("=")[0] for e in errors] == ["gcp_project_id", "max_gpu_nodes", "team"]


def test_quotes_in_project_name_are_allowed():
    assert errors_for(project_name='Team\'s "LLM" service') == []


@pytest.mark.parametrize(
    ("gpu_type", "per_node", "machine"),
    [
        ("nvidia-l4", "1", "g2-standard-8"),
        ("nvidia-tesla-a100", "2", "a2-highgpu-2g"),
        ("nvidia-a100-80gb", "4", "a2-ultragpu-4g"),
        ("nvidia-h100-80gb", "8", "a3-highgpu-8g"),
    ],
)
def test_machine_type_follows_from_gpu_type(gpu_type, per_node, machine):
    settings = derived_settings(
        {**defaults(), "gpu_type": gpu_type, "gpus_per_node": per_node}, CATALOG
    )
    assert settings["machine_type"] == machine
    assert all(zone.startswith("us-central1-") for zone in settings["gpu_zones"])


def test_catalog_zones_belong_to_their_region_and_machine_shapes_exist_in_the_price_table():
    prices = (TEMPLATE / "{{cookiecutter.project_slug}}" / "catalog").glob("gcp_gpu_prices_*.csv")
    priced = {line.split(",")[0] for path in prices for line in path.read_text().splitlines()[1:]}
    for gpu in CATALOG["gpus"].values():
        for region, zones in gpu["zones"].items():
            assert region in CATALOG["regions"]
            assert all(zone.rsplit("-", 1)[0] == region for zone in zones)
        assert set(gpu["machine_types"].values()) <= priced


def test_unused_files_follow_the_options():
    assert files_to_remove(defaults()) == ["pipelines/submit_kfp.py"]
    removed = files_to_remove(
        {**defaults(), "training_orchestrator": "kubeflow-endpoint", "license": "Proprietary"}
    )
    assert removed == ["pipelines/submit_vertex.py", "LICENSE"]


# --- one source of truth: the catalog drives every GPU list ---------------------------------

PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
sys.path.insert(0, str(PROJECT / "tests"))
import recipes  # noqa: E402  (the project's infra/README.md recipes, stdlib only)


def catalog_with_recipe(tmp_path: Path) -> dict:
    """The catalog after infra/README.md "Add a GPU type" (applied to a copy of catalog/)."""
    import shutil

    shutil.copytree(PROJECT / "catalog", tmp_path / "{{cookiecutter.project_slug}}" / "catalog")
    recipes.add_gpu_types(tmp_path / "{{cookiecutter.project_slug}}")
    return load_catalog(tmp_path)


def test_cookiecutter_choices_are_the_catalog():
    """cookiecutter.json must list its choices statically; they must be the catalog's."""
    raw = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert raw["gpu_type"] == list(CATALOG["gpus"]), "gpu_type choices: the catalog's GPU types"
    assert sorted(raw["region"]) == sorted(CATALOG["regions"])
    shapes = {n for gpu in CATALOG["gpus"].values() for n in gpu["machine_types"]}
    assert sorted(int(n) for n in raw["gpus_per_node"]) == sorted(shapes)


def test_recipe_gpu_types_are_accepted_by_the_answer_rules(tmp_path):
    catalog = catalog_with_recipe(tmp_path)
    for gpu_type in recipes.NEW_GPUS:
        answers = {
            **defaults(),
            "gpu_type": gpu_type,
            "gpus_per_node": "8",
            "region": recipes.NEW_GPU_REGION,
        }
        assert check_answers(answers, catalog) == []
        settings = derived_settings(answers, catalog)
        assert settings["machine_type"] == recipes.NEW_GPUS[gpu_type]
        wrong = check_answers({**answers, "gpus_per_node": "1"}, catalog)
        assert wrong == ["gpus_per_node='1': choose one of [8]"]


def _render(relative: str, gpu_catalog: dict, **answers: object) -> str:
    from jinja2 import Environment, StrictUndefined

    text = (PROJECT / relative).read_text()
    environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(text).render(
        cookiecutter={**defaults(), **answers}, gpu_catalog=gpu_catalog
    )


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_policy_budgets_come_from_the_catalog_also_for_recipe_gpus(tmp_path, stack):
    catalog = catalog_with_recipe(tmp_path)
    for gpu_type, gpu in catalog["gpus"].items():
        per_node = max(gpu["machine_types"])
        config = json.loads(
            _render(
                f"policies/config/{stack}.json", catalog, gpu_type=gpu_type, gpus_per_node=per_node
            )
        )
        gpus = min(int(defaults()["max_gpu_nodes"]), 2) * per_node
        assert (
            config["gpu-monthly-budget"]["maxMonthlyUsd"]
            == gpus * gpu["monthly_budget_usd_per_gpu"]
        )


def test_prod_spot_follows_the_catalogs_spot_only_shapes(tmp_path):
    import yaml

    catalog = catalog_with_recipe(tmp_path)
    catalog["gpus"]["nvidia-h200-141gb"]["spot_only_machine_types"] = ["a3-ultragpu-8g"]
    for gpu_type, gpu in catalog["gpus"].items():
        for per_node, machine in gpu["machine_types"].items():
            rendered = yaml.safe_load(
                _render(
                    "infra/Pulumi.prod.yaml", catalog, gpu_type=gpu_type, gpus_per_node=per_node
                )
            )
            (pool,) = next(v for k, v in rendered["config"].items() if k.endswith(":gpu_pools"))
            assert pool["spot"] is (machine in gpu["spot_only_machine_types"]), (gpu_type, per_node)
