"""MLflow registry: aliases by the gate, lineage tags, resolution, all-or-nothing registration."""

from __future__ import annotations

import pytest

from pipelines import registry


@pytest.fixture()
def tracking_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"


def register(model_dir, uri, passed=True, accuracy=0.9):
    return registry.register_model(
        model_dir,
        "demo-model",
        {"accuracy": accuracy},
        {"steps": 5},
        {"git_sha": "abc123", "pipeline_run": "run-1", "dataset_sha256": "f" * 64},
        passed,
        uri,
    )


def test_first_passing_model_becomes_candidate_and_champion(tiny_model_dir, tracking_uri):
    first = register(tiny_model_dir, tracking_uri)
    assert first["version"] == "1" and first["aliases"] == ["candidate", "champion"]
    second = register(tiny_model_dir, tracking_uri)
    assert second["aliases"] == ["candidate"], "champion only moves on promotion"
    failed = register(tiny_model_dir, tracking_uri, passed=False, accuracy=0.1)
    assert failed["aliases"] == []
    champion = registry.resolve_model("champion", tracking_uri, "demo-model")
    candidate = registry.resolve_model("candidate", tracking_uri, "demo-model")
    assert (champion.version, candidate.version) == ("1", "2")
    assert (champion.path / "config.json").is_file()
    assert champion.tags["git_sha"] == "abc123" and champion.tags["dataset_sha256"] == "f" * 64
    assert champion.tags["gate"] == "passed" and champion.tags["eval_accuracy"] == "0.9000"
    assert registry.resolve_model("3", tracking_uri, "demo-model").tags["gate"] == "failed"
    by_uri = registry.resolve_model("models:/demo-model@candidate", tracking_uri)
    assert by_uri.version == "2"
    rows = registry.list_models(tracking_uri, "demo-model")
    assert [(r["version"], r["aliases"]) for r in rows] == [
        ("1", ["champion"]),
        ("2", ["candidate"]),
        ("3", []),
    ]


def test_a_directory_resolves_to_itself(tiny_model_dir, tmp_path):
    assert registry.resolve_model_dir(str(tiny_model_dir)) == tiny_model_dir.resolve()
    with pytest.raises(registry.RegistryError, match="not a model directory"):
        registry.resolve_model(str(tmp_path))


def test_unknown_references_fail_clearly(tiny_model_dir, tracking_uri, tmp_path):
    with pytest.raises(registry.RegistryError, match=r"no model registry at .*make train"):
        registry.resolve_model("champion", f"sqlite:///{tmp_path / 'none.db'}", "demo-model")
    assert not (tmp_path / "none.db").exists(), "resolving must not create a registry"
    register(tiny_model_dir, tracking_uri, passed=False)
    with pytest.raises(registry.RegistryError, match="has no alias 'champion'"):
        registry.resolve_model("champion", tracking_uri, "demo-model")
    with pytest.raises(registry.RegistryError, match="has no version '9'"):
        registry.resolve_model("9", tracking_uri, "demo-model")


def test_a_missing_model_directory_is_refused_before_anything_is_logged(tmp_path, tracking_uri):
    with pytest.raises(registry.RegistryError, match="is not a model directory"):
        register(tmp_path / "no-such-model", tracking_uri)
    assert not (tmp_path / "mlflow").exists()


def test_failed_first_registration_leaves_nothing_registered(
    tiny_model_dir, tracking_uri, monkeypatch
):
    from mlflow import MlflowClient

    def broken(self, *args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(MlflowClient, "create_model_version", broken)
    with pytest.raises(RuntimeError, match="registry went away"):
        register(tiny_model_dir, tracking_uri)
    monkeypatch.undo()
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    assert client.search_registered_models() == []
    runs = client.search_runs([client.get_experiment_by_name("demo-model-training").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "registry went away" in runs[0].data.tags["registration_error"]


def test_failure_after_the_version_was_created_rolls_it_back(
    tiny_model_dir, tracking_uri, monkeypatch
):
    from mlflow import MlflowClient

    register(tiny_model_dir, tracking_uri)

    def broken_alias(self, name, alias, version):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", broken_alias)
    with pytest.raises(RuntimeError, match="registry went away"):
        register(tiny_model_dir, tracking_uri)
    monkeypatch.undo()
    rows = registry.list_models(tracking_uri, "demo-model")
    assert [r["version"] for r in rows] == ["1"]
    assert registry.resolve_model("candidate", tracking_uri, "demo-model").version == "1"


def test_a_registered_model_is_a_base_model_to_continue_training_from(tiny_model_dir, tracking_uri):
    from pipelines.run_local import resolve_base_model

    name = registry.default_registry_name()  # what `make train` registers under
    registry.register_model(tiny_model_dir, name, {"accuracy": 0.9}, {}, {}, True, tracking_uri)
    champion = registry.resolve_model("champion", tracking_uri)
    assert resolve_base_model("champion", tracking_uri) == str(champion.path)
    assert resolve_base_model("1", tracking_uri) == str(champion.path)
    for other in ("embedded-tiny-llama", "org/model", "gs://bucket/model"):
        assert resolve_base_model(other, tracking_uri) == other
    with pytest.raises(registry.RegistryError, match="has no version '7'"):
        resolve_base_model("7", tracking_uri)
