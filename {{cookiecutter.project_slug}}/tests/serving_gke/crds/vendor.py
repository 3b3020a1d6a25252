"""Re-create the vendored CRD schemas (*.json here) from the upstream CRD YAML (stdlib + PyYAML).

Each JSON file holds one version's `openAPIV3Schema` of one upstream CustomResourceDefinition,
unchanged except that every `description` is removed (smaller, and no Jinja sequences from prose:
this template renders .json files). Where it came from is recorded next to it, under "source".
tests/serving_gke/test_crd_schemas.py turns it into a strict JSON Schema at test time.

    python tests/serving_gke/crds/vendor.py NAME --file PATH     # a local copy of SOURCES[NAME]
    python tests/serving_gke/crds/vendor.py NAME --git-dir DIR   # `git show COMMIT:PATH` in DIR
    python tests/serving_gke/crds/vendor.py --list

To move to a new upstream release: change its entry in SOURCES (ref, commit, retrieved), run the
script, rerun the tests, and update crds/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
JINJA_SEQUENCES = ("{{", "{%", "{#")

# Output file -> the upstream CRD it is cut from. `version` is the CRD version our objects use.
SOURCES: dict[str, dict[str, str]] = {
    "gateway.networking.k8s.io_v1_gateway.json": {
        "repo": "https://github.com/kubernetes-sigs/gateway-api",
        "ref": "v1.4.0",
        "commit": "5e5891a5adad272363de782eb02a042166f1913c",
        "path": "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
        "crd": "gateways.gateway.networking.k8s.io",
        "version": "v1",
    },
    "gateway.networking.k8s.io_v1_httproute.json": {
        "repo": "https://github.com/kubernetes-sigs/gateway-api",
        "ref": "v1.4.0",
        "commit": "5e5891a5adad272363de782eb02a042166f1913c",
        "path": "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
        "crd": "httproutes.gateway.networking.k8s.io",
        "version": "v1",
    },
    "networking.gke.io_v1_healthcheckpolicy.json": {
        "repo": "https://github.com/GoogleCloudPlatform/gke-gateway-api",
        "ref": "main",
        "commit": "fc40d606a5332f11a8883f85caff66b63c4e88ef",
        "path": "config/crd/networking.gke.io_healthcheckpolicies.yaml",
        "crd": "healthcheckpolicies.networking.gke.io",
        "version": "v1",
    },
    "networking.gke.io_v1_gcpbackendpolicy.json": {
        "repo": "https://github.com/GoogleCloudPlatform/gke-gateway-api",
        "ref": "main",
        "commit": "fc40d606a5332f11a8883f85caff66b63c4e88ef",
        "path": "config/crd/networking.gke.io_gcpbackendpolicies.yaml",
        "crd": "gcpbackendpolicies.networking.gke.io",
        "version": "v1",
    },
    "monitoring.googleapis.com_v1_podmonitoring.json": {
        "repo": "https://github.com/GoogleCloudPlatform/prometheus-engine",
        "ref": "v0.17.2",
        "commit": "7920a2a222af1c09535d8141684e2944670c5041",
        "path": "charts/operator/crds/monitoring.googleapis.com_podmonitorings.yaml",
        "crd": "podmonitorings.monitoring.googleapis.com",
        "version": "v1",
    },
    "secrets-store.csi.x-k8s.io_v1_secretproviderclass.json": {
        "repo": "https://github.com/kubernetes-sigs/secrets-store-csi-driver",
        "ref": "v1.6.0",
        "commit": "4960f9637c51ad9cb9ef264481bc6d9a98bf1f1c",
        "path": "config/crd/bases/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
        "crd": "secretproviderclasses.secrets-store.csi.x-k8s.io",
        "version": "v1",
    },
    # Google publishes no ComputeClass CRD; this is one dumped from a GKE cluster (it carries the
    # addon-manager label) by a third party, April 2025. Older than today's GKE (no flexStart or
    # reservations in priorities), but it holds every field the program renders.
    "cloud.google.com_v1_computeclass.json": {
        "repo": "https://github.com/tommy351/kubernetes-models-ts",
        "ref": "main",
        "commit": "30506b926a48eba263a79ac0e17f995f5505c0d0",
        "path": "third-party/gke/crd/computeclasses.yaml",
        "crd": "computeclasses.cloud.google.com",
        "version": "v1",
    },
}
RETRIEVED = "2026-12-07"  # when the entries above were last read from upstream


def strip_descriptions(schema: Any) -> Any:
    """The schema without `description` keywords (a *property* named description is kept)."""
    if isinstance(schema, list):
        return [strip_descriptions(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: strip_descriptions(sub) for name, sub in value.items()}
        else:
            out[key] = strip_descriptions(value)
    return out


def extract(text: str, source: dict[str, str]) -> dict[str, Any]:
    """The vendored document for `source` from the text of its upstream YAML (may be multi-doc)."""
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        if doc["metadata"]["name"] != source["crd"]:
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if version["name"] == source["version"]:
                break
        else:
            raise SystemExit(f"{source['crd']}: no version {source['version']} upstream")
        bundle = (
            doc["metadata"].get("annotations", {}).get("gateway.networking.k8s.io/bundle-version")
        )
        return {
            "source": {**source, "retrieved": RETRIEVED, **({"bundle": bundle} if bundle else {})},
            "group": spec["group"],
            "kind": spec["names"]["kind"],
            "version": source["version"],
            "scope": spec["scope"],
            "served": version.get("served", False),
            "schema": strip_descriptions(version["schema"]["openAPIV3Schema"]),
        }
    raise SystemExit(f"{source['crd']}: not found in {source['path']}")


def dump(document: dict[str, Any]) -> str:
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    found = [seq for seq in JINJA_SEQUENCES if seq in text]
    if found:
        raise SystemExit(f"{document['kind']}: {found} would be read as Jinja by cookiecutter")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=sorted(SOURCES))
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--file", type=Path, help="a local copy of the upstream YAML")
    where.add_argument("--git-dir", type=Path, help="a clone of the upstream repo (bare is fine)")
    parser.add_argument("--list", action="store_true", help="print the sources and exit")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for name, source in SOURCES.items():
            print(f"{name}: {source['repo']} {source['ref']} ({source['commit']}) {source['path']}")
        return 0
    source = SOURCES[args.name]
    if args.file:
        text = args.file.read_text(encoding="utf-8")
    elif args.git_dir:
        text = subprocess.run(
            ["git", f"--git-dir={args.git_dir}", "show", f"{source['commit']}:{source['path']}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    else:
        parser.error("give --file or --git-dir")
    (HERE / args.name).write_text(dump(extract(text, source)), encoding="utf-8")
    print(f"wrote {args.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
