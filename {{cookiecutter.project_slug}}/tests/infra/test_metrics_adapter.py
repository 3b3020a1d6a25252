"""The custom-metrics adapter the vLLM HPA scales through (infra/metrics_adapter.py)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from infra.config import load_stack_config
from infra.metrics_adapter import SERVICE_ACCOUNT, _manifest, adapter_objects, ksa_member
from infra.plan import record_stack, resource_rows

# GKE versions the release channels serve (as tests/serving_gke: REGULAR/STABLE 1.34, RAPID 1.36).
CLUSTER_VERSIONS = ("1.34", "1.35", "1.36")


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_the_vendored_manifest_is_declared_with_only_the_three_documented_changes():
    objects = adapter_objects("metrics@p.iam.gserviceaccount.com")
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        (o["kind"], o["metadata"]["name"]) for o in _manifest()
    ]
    sa = by_kind(objects, "ServiceAccount")[SERVICE_ACCOUNT]
    assert sa["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "metrics@p.iam.gserviceaccount.com"
    }
    pod = by_kind(objects, "Deployment")[SERVICE_ACCOUNT]["spec"]["template"]["spec"]
    assert "tolerations" not in pod  # system pool only: never on (or holding up) a GPU node
    (container,) = pod["containers"]
    assert container["livenessProbe"] == container["readinessProbe"]
    # Everything else as Google ships it.
    original = {(o["kind"], o["metadata"]["name"]): o for o in _manifest()}
    changed = {("ServiceAccount", SERVICE_ACCOUNT), ("Deployment", SERVICE_ACCOUNT)}
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in changed:
            assert obj == original[key], key


@pytest.mark.parametrize("version", CLUSTER_VERSIONS)
def test_the_adapter_objects_validate_against_the_cluster_schema(version):
    for obj in adapter_objects("metrics@p.iam.gserviceaccount.com"):
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.fixture(scope="module")
def dev_rows():
    cfg = load_stack_config("dev")
    return cfg, resource_rows(record_stack(cfg))


def test_the_program_declares_it_with_its_own_identity_and_the_performance_hpa_profile(dev_rows):
    cfg, rows = dev_rows
    types = {r["type"] for r in rows}
    assert "kubernetes:apiregistration.k8s.io/v1:APIService" in types
    grants = [
        r["inputs"]
        for r in rows
        if r["type"] == "gcp:serviceaccount/iAMMember:IAMMember"
        and r["inputs"].get("member") == ksa_member(cfg.gcp.project_id)
    ]
    assert [g["role"] for g in grants] == ["roles/iam.workloadIdentityUser"]
    viewer = [
        r["inputs"]
        for r in rows
        if r["type"] == "gcp:projects/iAMMember:IAMMember"
        and r["inputs"]["role"] == "roles/monitoring.viewer"
    ]
    assert len(viewer) == 1 and "metrics" in viewer[0]["member"]
    (cluster,) = [r for r in rows if r["type"] == "gcp:container/cluster:Cluster"]
    assert cluster["inputs"]["podAutoscaling"] == {"hpaProfile": "PERFORMANCE"}
