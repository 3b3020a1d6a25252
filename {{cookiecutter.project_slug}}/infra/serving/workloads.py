"""A track's pods and how many: the Deployment, its HorizontalPodAutoscaler and disruption budget.

The HPA scales on `vllm:num_requests_waiting` per pod, read from Managed Prometheus
(PodMonitoring) through the custom-metrics Stackdriver adapter.
"""

from __future__ import annotations

from typing import Any

from infra.serving.args import ServingOnGkeArgs, parked, selector_labels
from infra.serving.metadata import Track
from infra.serving.mounts import request_log_digest
from infra.serving.pod import pod_spec
from infra.serving.waits import await_annotations

# How the HPA names a Managed Prometheus gauge through the custom-metrics Stackdriver adapter.
HPA_METRIC = "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"


def _replicas(args: ServingOnGkeArgs, track: str) -> tuple[int | None, int, int]:
    """(Deployment replicas or None when the HPA owns it, HPA min, HPA max).

    A parked track (stable with min_replicas 0, canary at weight 0) has replicas 0: the HPA then
    does nothing and no GPU node is kept for it.
    """
    hpa_min = max(1, args.min_replicas)
    hpa_max = max(hpa_min, args.max_replicas)
    return (0 if parked(args, track) else None), hpa_min, hpa_max


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"


def deployment(t: Track, served: str, registry: str) -> dict[str, Any]:
    """The track's vLLM pods, serving `served` from models/<registry>/<the track's model ref>."""
    args = t.args
    model_ref = args.stable_model if t.track == "stable" else args.canary_model
    model_prefix = f"models/{registry}/{model_ref}"
    replicas, _, _ = _replicas(args, t.track)
    spec_dict: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(t.track)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "template": {
            "metadata": {
                "labels": {**t.labels, **selector_labels(t.track)},
                "annotations": {
                    "gke-gcsfuse/volumes": "true",
                    # No limits on the FUSE sidecar: loading weights is its burst.
                    "gke-gcsfuse/cpu-limit": "0",
                    "gke-gcsfuse/memory-limit": "0",
                    "gke-gcsfuse/ephemeral-storage-limit": "0",
                    "llmops/model": model_prefix,
                    # A changed logging config rolls the pods (a ConfigMap edit alone does not).
                    "llmops/request-log": request_log_digest(t.spec),
                },
            },
            "spec": pod_spec(args, t.spec, served, model_prefix),
        },
    }
    if replicas is not None:
        spec_dict["replicas"] = replicas
    return t.obj(
        "apps/v1", "Deployment", annotations=await_annotations(args, t.track), spec=spec_dict
    )


def horizontal_pod_autoscaler(t: Track) -> dict[str, Any]:
    autoscaling = t.spec.gke.autoscaling
    _, hpa_min, hpa_max = _replicas(t.args, t.track)
    return t.obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": t.name},
            "minReplicas": hpa_min,
            "maxReplicas": hpa_max,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": HPA_METRIC},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": _quantity(autoscaling.target_average_value),
                        },
                    },
                }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": autoscaling.scale_down_stabilization_s,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                },
            },
        },
    )


def pod_disruption_budget(t: Track) -> dict[str, Any]:
    return t.obj(
        "policy/v1",
        "PodDisruptionBudget",
        spec={
            "maxUnavailable": t.spec.gke.pdb_max_unavailable,
            "selector": {"matchLabels": selector_labels(t.track)},
        },
    )
