"""The custom-metrics Stackdriver adapter: what lets the vLLM HPA read `vllm:num_requests_waiting`.

An HPA on a Pods metric asks the API server's `custom.metrics.k8s.io`; on GKE that API is served
by Google's custom-metrics Stackdriver adapter, which reads Cloud Monitoring (where Managed
Prometheus puts the `vllm:*` series). Without it the HPA never scales. The objects are Google's
own manifest, vendored unchanged in infra/manifests/ (source and commit in its header). The
program changes three things, each for a policy of policies/rules.py:
- the Workload Identity annotation: the adapter reads Cloud Monitoring as the `metrics`
  identity (roles/monitoring.viewer, infra/identity.py), not as the nodes;
- no GPU/TPU tolerations: it runs on the system pool, never holding up a GPU node's scale-down
  (`k8s-resources` refuses a GPU-tolerating container without a GPU limit);
- a liveness probe equal to its readiness probe (`k8s-probes`): a hung adapter is restarted.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

MANIFEST = Path(__file__).resolve().parent / "manifests" / "custom-metrics-stackdriver-adapter.yaml"
NAMESPACE = "custom-metrics"
SERVICE_ACCOUNT = "custom-metrics-stackdriver-adapter"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
# pulumi-kubernetes' typed class per kind in the manifest (top-level fields in snake_case).
KINDS = {
    "Namespace": k8s.core.v1.Namespace,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "Service": k8s.core.v1.Service,
    "Deployment": k8s.apps.v1.Deployment,
    "ClusterRole": k8s.rbac.v1.ClusterRole,
    "ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
    "RoleBinding": k8s.rbac.v1.RoleBinding,
    "APIService": k8s.apiregistration.v1.APIService,
}
TOP_LEVEL = {"roleRef": "role_ref"}


@cache
def _manifest() -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc)


def adapter_objects(gsa_email: pulumi.Input[str]) -> list[dict[str, Any]]:
    """The manifest's objects, in its order, its service account acting as `gsa_email`."""
    objects = [copy.deepcopy(doc) for doc in _manifest()]
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "ServiceAccount" and meta["name"] == SERVICE_ACCOUNT:
            meta.setdefault("annotations", {})[WORKLOAD_IDENTITY_ANNOTATION] = gsa_email
        if obj["kind"] == "Deployment" and meta["name"] == SERVICE_ACCOUNT:
            pod = obj["spec"]["template"]["spec"]
            pod.pop("tolerations", None)
            for container in pod["containers"]:
                container.setdefault("livenessProbe", dict(container["readinessProbe"]))
    return objects


def ksa_member(project_id: str) -> str:
    """The adapter's Kubernetes service account as an IAM member (Workload Identity)."""
    return f"serviceAccount:{project_id}.svc.id.goog[{NAMESPACE}/{SERVICE_ACCOUNT}]"


class MetricsAdapter(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        gsa_email: pulumi.Input[str],
        provider: pulumi.ProviderResource | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("llmops:serving:MetricsAdapter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace: pulumi.Resource | None = None
        self.resources: list[pulumi.Resource] = []
        for obj in adapter_objects(gsa_email):
            cls = KINDS[obj["kind"]]
            body = {
                TOP_LEVEL.get(k, k): v for k, v in obj.items() if k not in ("apiVersion", "kind")
            }
            options = child
            if namespace is not None:
                options = pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[namespace])
                )
            key = f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}"
            resource = cls(f"{name}-{key}", opts=options, **body)
            if obj["kind"] == "Namespace":
                namespace = resource
            self.resources.append(resource)
        self.register_outputs({"namespace": NAMESPACE})
