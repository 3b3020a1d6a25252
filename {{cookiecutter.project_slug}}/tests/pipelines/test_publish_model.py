"""Publishing a registered version to the model bucket's layout: complete, immutable, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import publish_model, registry


@pytest.fixture()
def tracking_uri(tmp_path, tiny_model_dir, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    registry.register_model(
        tiny_model_dir, "demo-model", {"accuracy": 0.9}, {"steps": 5},
        {"git_sha": "abc123", "pipeline_run": "run-1", "dataset_sha256": "f" * 64}, True, uri,
    )  # fmt: skip
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(registry, "default_registry_name", lambda: "demo-model")
    return uri


def test_publish_copies_every_file_under_the_version_and_writes_the_manifest_last(
    tracking_uri, tiny_model_dir, tmp_path, capsys
):
    bucket = tmp_path / "bucket"
    assert publish_model.main(["champion", "--bucket", str(bucket)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    prefix = bucket / "models" / "demo-model" / "1"
    assert record["status"] == "published" and record["version"] == "1"
    assert record["uri"] == str(prefix)
    manifest = json.loads((prefix / "MANIFEST.json").read_text())
    assert set(manifest["files"]) == {
        p.relative_to(tiny_model_dir).as_posix() for p in tiny_model_dir.rglob("*") if p.is_file()
    }
    for name, entry in manifest["files"].items():
        assert (prefix / name).read_bytes() == (tiny_model_dir / name).read_bytes()
        assert entry["bytes"] == (prefix / name).stat().st_size


def test_publishing_again_is_a_no_op(tracking_uri, tmp_path):
    bucket = str(tmp_path / "bucket")
    publish_model.publish("champion", bucket)
    manifest = tmp_path / "bucket" / "models" / "demo-model" / "1" / "MANIFEST.json"
    before = manifest.stat().st_mtime_ns
    assert publish_model.publish("1", bucket)["status"] == "already published"
    assert manifest.stat().st_mtime_ns == before


def test_a_version_published_with_other_files_is_refused(tracking_uri, tmp_path, capsys):
    bucket = tmp_path / "bucket"
    publish_model.publish("champion", str(bucket))
    manifest = bucket / "models" / "demo-model" / "1" / "MANIFEST.json"
    data = json.loads(manifest.read_text())
    data["files"]["config.json"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    assert publish_model.main(["champion", "--bucket", str(bucket)]) == 1
    assert "immutable" in capsys.readouterr().err


def test_an_interrupted_publish_is_completed(tracking_uri, tiny_model_dir, tmp_path):
    prefix = tmp_path / "bucket" / "models" / "demo-model" / "1"
    prefix.mkdir(parents=True)
    (prefix / "config.json").write_text("{")  # half a file, and no manifest
    record = publish_model.publish("champion", str(tmp_path / "bucket"))
    assert record["status"] == "published"
    assert (prefix / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()
    assert (prefix / "MANIFEST.json").is_file()


def test_a_copy_that_does_not_land_whole_writes_no_manifest(tracking_uri, tmp_path, monkeypatch):
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    real = LocalArtifactRepository.log_artifacts

    def truncating(self, local_dir, artifact_path=None):
        real(self, local_dir, artifact_path)
        (Path(self.artifact_dir) / "config.json").write_text("")

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", truncating)
    with pytest.raises(publish_model.PublishError, match="did not land whole"):
        publish_model.publish("champion", str(tmp_path / "bucket"))
    assert not (tmp_path / "bucket" / "models" / "demo-model" / "1" / "MANIFEST.json").exists()


@pytest.mark.parametrize(
    ("model", "bucket", "message"),
    [
        ("9", "BUCKET", "has no version '9'"),
        ("champion", "s3://other-cloud", "use gs://NAME or a local directory"),
        ("champion", "gs://name/models", "the bucket only"),
    ],
)
def test_bad_references_exit_2_with_the_reason(
    tracking_uri, tmp_path, capsys, model, bucket, message
):
    bucket = bucket.replace("BUCKET", str(tmp_path / "bucket"))
    assert publish_model.main([model, "--bucket", bucket]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bucket").exists()


def test_a_directory_is_not_a_registered_version(tracking_uri, tiny_model_dir, tmp_path, capsys):
    assert publish_model.main([str(tiny_model_dir), "--bucket", str(tmp_path / "b")]) == 2
    assert "publish a registered version" in capsys.readouterr().err


def test_gcs_destinations_keep_the_serving_layout():
    assert (
        publish_model.destination("gs://acme-llm-models/", "llm-service", "7")
        == "gs://acme-llm-models/models/llm-service/7"
    )
