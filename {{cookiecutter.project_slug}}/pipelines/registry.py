"""The model registry (MLflow): register a trained model with lineage, resolve a reference.

Needs only MLflow (`mlflow-skinny` plus SQLAlchemy/Alembic for the local SQLite store), PyYAML
and pydantic, so serving/, evals/ and release/ can resolve models from their own environments:

    resolve_model("champion")   # alias, version number ("3"), "models:/name@alias" or a directory
    resolve_model_dir("candidate") -> Path of a directory vLLM can load

CLI: `python -m pipelines.registry [REF]` prints one model; `--list` prints every version.
Locally the registry is SQLite under build/mlflow (artifacts in build/mlflow/artifacts); set
MLFLOW_TRACKING_URI to use a tracking server instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from common.model_digest import TAG as DIGEST_TAG
from common.model_digest import model_digest

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_DIR = ROOT / "build" / "mlflow"
CANDIDATE = "candidate"
CHAMPION = "champion"


class RegistryError(RuntimeError):
    """A model reference cannot be resolved, or a registration failed (and was rolled back)."""


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    version: str
    path: Path
    source: str
    run_id: str | None
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}"


def default_registry_name() -> str:
    from common.project import load_project

    return load_project().model.registry_name


def _client(tracking_uri: str, must_exist: bool) -> Any:
    if tracking_uri.startswith("sqlite:///") and must_exist:
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        if not db.exists():
            raise RegistryError(
                f"no model registry at {db}: run `make train` first, or set MLFLOW_TRACKING_URI "
                "to your tracking server"
            )
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _local_path(source: str) -> Path | None:
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and source:
        return Path(source)
    return None


def resolve_model(
    ref: str = CHAMPION, tracking_uri: str | None = None, name: str | None = None
) -> ResolvedModel:
    """Find a model: a directory, a version number, an alias or `models:/NAME@ALIAS|VERSION`."""
    if Path(ref).is_dir():
        path = Path(ref).resolve()
        if not (path / "config.json").exists():
            raise RegistryError(f"{path} is not a model directory (no config.json)")
        return ResolvedModel(name or path.name, "local", path, str(path), None)
    if ref.startswith("models:/"):
        name, _, ref = ref.removeprefix("models:/").replace("@", "/").partition("/")
    tracking_uri = tracking_uri or default_tracking_uri()
    name = name or default_registry_name()
    client = _client(tracking_uri, must_exist=True)
    from mlflow.exceptions import MlflowException

    try:
        if ref.isdigit():
            version = client.get_model_version(name, ref)
        else:
            version = client.get_model_version_by_alias(name, ref)
    except MlflowException as error:
        kind = "version" if ref.isdigit() else "alias"
        raise RegistryError(
            f"model {name!r} has no {kind} {ref!r} in {tracking_uri} "
            f"({error.message.splitlines()[0]}); list them with `make models`"
        ) from error
    source = client.get_model_version_download_uri(name, version.version)
    path = _local_path(source)
    if path is None:  # remote artifacts (gs://, tracking server): fetch once into a cache
        import mlflow.artifacts

        cache = Path(tempfile.gettempdir()) / "mlflow-models" / name / str(version.version)
        if not (cache / "config.json").exists():
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(cache.parent))
            Path(cache.parent / Path(urlparse(source).path).name).rename(cache)
        path = cache
    if not (path / "config.json").exists():
        raise RegistryError(f"model {name} version {version.version}: no model files at {path}")
    return ResolvedModel(
        name=name,
        version=str(version.version),
        path=path,
        source=source,
        run_id=version.run_id,
        aliases=list(version.aliases),
        tags=dict(version.tags),
    )


def resolve_model_dir(ref: str = CHAMPION, tracking_uri: str | None = None) -> Path:
    """The local directory of a registered model (see resolve_model for the forms of `ref`)."""
    return resolve_model(ref, tracking_uri).path


def list_models(tracking_uri: str | None = None, name: str | None = None) -> list[dict]:
    tracking_uri = tracking_uri or default_tracking_uri()
    name = name or default_registry_name()
    client = _client(tracking_uri, must_exist=True)
    versions = client.search_model_versions(f"name = '{name}'")
    # Search results carry no aliases: take them from the registered model.
    aliases: dict[str, list[str]] = {}
    if versions:
        for alias, version in client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    return [
        {
            "name": name,
            "version": str(v.version),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "source": v.source,
            "accuracy": v.tags.get("eval_accuracy"),
            "gate": v.tags.get("gate"),
        }
        for v in sorted(versions, key=lambda v: int(v.version))
    ]


def register_model(
    model_dir: Path,
    name: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    lineage: dict[str, str],
    passed_gate: bool,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Log a run with the model files and register a version, all or nothing.

    The version gets alias `candidate` only when `passed_gate`; `champion` too when the model has
    no champion yet. On any failure the version (and a registered model created here) is
    deleted and the run is marked FAILED, so nothing half-registered remains.
    """
    import mlflow.entities
    from mlflow.exceptions import MlflowException

    if not (Path(model_dir) / "config.json").is_file():
        raise RegistryError(f"nothing to register: {model_dir} is not a model directory")
    tracking_uri = tracking_uri or default_tracking_uri()
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = _client(tracking_uri, must_exist=False)
    experiment_name = f"{name}-training"
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        location = None
        if tracking_uri.startswith("sqlite:///"):
            location = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
        experiment_id = client.create_experiment(experiment_name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    tags = {**lineage, "gate": "passed" if passed_gate else "failed"}
    run = client.create_run(experiment_id, run_name=lineage.get("pipeline_run"), tags=tags)
    run_id = run.info.run_id
    created_model = False
    version = None
    try:
        client.log_batch(
            run_id,
            metrics=[mlflow.entities.Metric(k, float(v), 0, 0) for k, v in metrics.items()],
            params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()],
        )
        client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description="Trained by pipelines/ (make train)")
            created_model = True
        version_tags = {
            **tags,
            **{f"eval_{k}": f"{v:.4f}" for k, v in metrics.items()},
            DIGEST_TAG: model_digest(Path(model_dir)),
        }
        version = client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run_id, tags=version_tags
        )
        aliases = []
        if passed_gate:
            client.set_registered_model_alias(name, CANDIDATE, version.version)
            aliases.append(CANDIDATE)
            if CHAMPION not in client.get_registered_model(name).aliases:
                client.set_registered_model_alias(name, CHAMPION, version.version)
                aliases.append(CHAMPION)
        client.set_terminated(run_id, "FINISHED")
    except BaseException as error:
        if version is not None:
            client.delete_model_version(name, version.version)
        if created_model:
            client.delete_registered_model(name)
        client.set_tag(run_id, "registration_error", str(error)[:500])
        client.set_terminated(run_id, "FAILED")
        raise
    return {
        "name": name,
        "version": str(version.version),
        "aliases": aliases,
        "run_id": run_id,
        "source": version.source,
        "tracking_uri": tracking_uri,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print registered models and where they are.")
    parser.add_argument("ref", nargs="?", default=CHAMPION, help="alias, version or directory")
    parser.add_argument("--list", action="store_true", help="every version with its aliases")
    args = parser.parse_args(argv)
    try:
        if args.list:
            for row in list_models():
                aliases = ",".join(row["aliases"]) or "-"
                print(
                    f"v{row['version']:<4} {aliases:<20} acc={row['accuracy']} "
                    f"gate={row['gate']} {row['source']}"
                )
            return 0
        model = resolve_model(args.ref)
    except RegistryError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    document = {
        "name": model.name,
        "version": model.version,
        "path": str(model.path),
        "aliases": model.aliases,
        "source": model.source,
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
