"""The GKE Locust manifests aim at the Service infra/serving/ renders, and hand results back."""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import sys
import types
import urllib.parse
from typing import Any

import pytest
import yaml

from common.project import ROOT

MANIFEST = ROOT / "loadtest" / "k8s" / "locust.yaml"


def _docs() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _master_flags() -> list[str]:
    job = _docs()[("Job", "locust-master")]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    return shlex.split(script.split(";")[0])  # the locust command, before the shell's epilogue


def _flag(flags: list[str], name: str) -> str:
    return flags[flags.index(name) + 1]


@pytest.fixture
def stable_service(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The stable track's Service as infra/serving/ renders it (no cluster, no Pulumi run)."""
    if importlib.util.find_spec("pulumi") is None:  # the loadtest env has no Pulumi
        stub = types.ModuleType("pulumi")
        stub.__getattr__ = lambda name: type(name, (), {})  # type: ignore[method-assign]
        monkeypatch.setitem(sys.modules, "pulumi", stub)
    monkeypatch.delitem(sys.modules, "infra.serving", raising=False)
    serving = importlib.import_module("infra.serving")
    monkeypatch.delitem(sys.modules, "infra.serving")  # not with the stub, for later imports
    from infra.config import ServingSettings

    settings = ServingSettings()  # the default namespace; the stacks' files may override it
    args = serving.ServingOnGkeArgs(
        k8s_provider=None,
        namespace=settings.namespace,
        serving_gsa_email="sa@p.iam.gserviceaccount.com",
        ksa_name=settings.service_account,
        model_bucket="bucket",
        hub_token_secret_id="projects/p/secrets/s",
        gpu_type="nvidia-l4",
        gpus_per_node=1,
    )
    objects = serving.render_objects(args, "served", "registry", "projects/p/secrets/s/versions/1")
    (service,) = [
        o
        for o in objects
        if o["kind"] == "Service" and o["metadata"]["labels"].get("llmops/track") == "stable"
    ]
    return service


def test_target_is_the_stable_service(stable_service: dict[str, Any]) -> None:
    url = urllib.parse.urlparse(_flag(_master_flags(), "--host"))
    name, namespace = stable_service["metadata"]["name"], stable_service["metadata"]["namespace"]
    assert url.hostname == f"{name}.{namespace}.svc.cluster.local"
    assert url.port == stable_service["spec"]["ports"][0]["port"]
    assert url.path == "/v1"
    # The documented commands apply and copy in that namespace.
    assert f"kubectl -n {namespace} apply -f loadtest/k8s/locust.yaml" in MANIFEST.read_text()


def test_results_outlive_the_run_and_workers_exit() -> None:
    docs = _docs()
    master = docs[("Job", "locust-master")]["spec"]["template"]["spec"]
    script = master["containers"][0]["args"][0]
    # The pod waits for the copy (the documented `touch /out/fetched`), not a fixed sleep.
    assert "touch /out/done" in script and "/out/fetched" in script
    assert "--samples-out /out/samples.jsonl" in script
    assert {"name": "out", "mountPath": "/out"} in master["containers"][0]["volumeMounts"]
    workers = docs[("Job", "locust-worker")]["spec"]
    # A Job, not a Deployment: a worker that exits after the run is not restarted.
    assert workers["template"]["spec"]["restartPolicy"] == "Never"
    assert int(_flag(_master_flags(), "--expect-workers")) == workers["parallelism"]
    worker_args = workers["template"]["spec"]["containers"][0]["args"]
    master_service = docs[("Service", "locust-master")]["metadata"]["name"]
    assert _flag(worker_args, "--master-host") == master_service
