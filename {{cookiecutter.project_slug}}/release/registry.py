"""Promotion in the local registry: move the MLflow `champion` alias to a model version.

    python -m release.registry promote VERSION

Runs in the `pipelines` environment (it has the same MLflow release that wrote the registry);
`make registry-promote VERSION=N` calls it. The alias that was replaced is kept as
`previous-champion`, so a rollback after the fact is one alias move.
"""

from __future__ import annotations

import argparse
import os
import sys

from common.evidence import BUILD
from common.project import load_project


def tracking_uri() -> str:
    """The same registry the pipeline writes: MLFLOW_TRACKING_URI, else the local SQLite file."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{BUILD / 'mlflow' / 'mlflow.db'}"


def promote(version: str, uri: str | None = None) -> str:
    from mlflow import MlflowClient  # only in the pipelines env

    uri = uri or tracking_uri()

    name = load_project().model.registry_name
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.get_model_version(name, version)  # raises with MLflow's message if it does not exist
    try:
        previous = client.get_model_version_by_alias(name, "champion").version
    except Exception:  # no champion yet
        previous = None
    if previous is not None and str(previous) != str(version):
        client.set_registered_model_alias(name, "previous-champion", previous)
    client.set_registered_model_alias(name, "champion", version)
    return f"{name}: champion {previous} -> {version}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["promote"])
    parser.add_argument("version")
    args = parser.parse_args(argv)
    try:
        print(promote(args.version))
    except Exception as error:
        print(f"ERROR: could not promote version {args.version}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
