"""Publish a registered model version to the model bucket, where GKE serving reads it.

    python -m pipelines.publish_model MODEL [--bucket gs://NAME | DIR]
    make model-publish MODEL=candidate BUCKET=gs://NAME

GKE mounts `models/<registry name>/<version>/` of the model bucket through GCS FUSE
(infra/serving/), so a version must be there before a track can serve it. MODEL is what the
registry resolves (an alias, a version number, `models:/NAME@ALIAS`); the files always land
under the version number, which never changes, so an alias that moves later cannot change what a
running Deployment reads. Without `--bucket` the target is `build/model-bucket/`, a local folder
in the bucket's layout: the same code path, only the destination differs.

The copy goes through MLflow's artifact repositories, the library that already moves these files
into and out of the registry, for a local folder and `gs://` alike (google-cloud-storage, with
the caller's credentials). Versions are immutable: `MANIFEST.json` (size and sha256 of every
file) is written last, after every file has been listed back with the right size. A prefix with
no manifest is an interrupted publish and is written again; one whose manifest matches is left
alone ("already published"); one whose manifest differs is refused.

Exit codes: 0 published (or already there), 1 refused or failed, 2 unknown model or bad bucket.
Prints a JSON record of what was published as its last line (the GKE canary backend reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from common.evidence import sha256_file
from pipelines.registry import ROOT, RegistryError, resolve_model

# MLflow draws a progress bar for every download, even of the one-file manifest.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
MANIFEST = "MANIFEST.json"
LOCAL_BUCKET = ROOT / "build" / "model-bucket"


class PublishError(RuntimeError):
    """The version cannot be published (exists with other files, or the copy did not land)."""


class BucketError(ValueError):
    """The destination is not a bucket this tool writes to."""


def file_manifest(model_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        path.relative_to(model_dir).as_posix(): {
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file())
    }


def bucket_root(bucket: str) -> str:
    """`gs://NAME`, or a local folder in the bucket's layout (made absolute)."""
    bucket = bucket.rstrip("/")
    if "://" in bucket and not bucket.startswith(("gs://", "file://")):
        raise BucketError(f"bucket {bucket!r}: use gs://NAME or a local directory")
    if bucket.startswith("gs://") and "/" in bucket.removeprefix("gs://"):
        raise BucketError(f"bucket {bucket!r}: give the bucket only (gs://NAME), not a path in it")
    return bucket if "://" in bucket else str(Path(bucket).resolve())


def destination(bucket: str, registry_name: str, version: str) -> str:
    return f"{bucket_root(bucket)}/models/{registry_name}/{version}"


def _listed_sizes(repo: Any, path: str | None = None) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for info in repo.list_artifacts(path):
        if info.is_dir:
            sizes.update(_listed_sizes(repo, info.path))
        else:
            sizes[info.path] = info.file_size
    return sizes


def _published_manifest(repo: Any, scratch: Path) -> dict | None:
    if MANIFEST not in {info.path for info in repo.list_artifacts()}:
        return None
    return json.loads(Path(repo.download_artifacts(MANIFEST, str(scratch))).read_text())


def publish(model: str, bucket: str, tracking_uri: str | None = None) -> dict[str, Any]:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    bucket_root(bucket)  # refuse a bad bucket before fetching anything
    resolved = resolve_model(model, tracking_uri)
    if resolved.version == "local":
        raise RegistryError(
            f"{model!r} is a directory: publish a registered version (see `make models`)"
        )
    target = destination(bucket, resolved.name, resolved.version)
    files = file_manifest(resolved.path)
    record = {
        "model": resolved.name,
        "version": resolved.version,
        "uri": target,
        "file_count": len(files),
        "bytes": sum(f["bytes"] for f in files.values()),
    }
    repo = get_artifact_repository(target)
    with tempfile.TemporaryDirectory() as scratch:
        existing = _published_manifest(repo, Path(scratch))
        if existing is not None:
            if existing.get("files") != files:
                raise PublishError(
                    f"{target} already holds version {resolved.version} with other files; "
                    "published versions are immutable (register a new version instead)"
                )
            return {**record, "status": "already published"}
        repo.log_artifacts(str(resolved.path))
        listed = _listed_sizes(repo)
        wrong = [name for name, f in files.items() if listed.get(name) != f["bytes"]]
        if wrong:
            raise PublishError(
                f"{target}: {len(wrong)} file(s) did not land whole, e.g. {wrong[0]}"
            )
        manifest = Path(scratch) / MANIFEST
        manifest.write_text(
            json.dumps({**record, "source": resolved.source, "files": files}, indent=2)
        )
        repo.log_artifact(str(manifest))
    return {**record, "status": "published"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="alias, version number or models:/NAME@ALIAS")
    parser.add_argument("--bucket", default=str(LOCAL_BUCKET), help="gs://NAME or a local folder")
    args = parser.parse_args(argv)
    try:
        record = publish(args.model, args.bucket)
    except (RegistryError, BucketError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the copy itself: credentials, network, a refused overwrite
        print(f"ERROR: could not publish {args.model!r} to {args.bucket}: {error}", file=sys.stderr)
        return 1
    print(
        f"{record['status']}: {record['model']} version {record['version']} "
        f"({record['file_count']} files, {record['bytes'] / 1e6:.1f} MB) at {record['uri']}",
        file=sys.stderr,
    )
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
