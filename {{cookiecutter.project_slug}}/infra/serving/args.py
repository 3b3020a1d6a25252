"""What the infra program hands to serving, the names objects share, and which tracks are parked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from serving.spec import ServingSpec

TRACKS = ("stable", "canary")
APP = "vllm"
PORT_NAME = "http"


@dataclass
class ServingOnGkeArgs:
    """What the infra program hands to serving. Output-valued fields are placed, never formatted."""

    k8s_provider: pulumi.ProviderResource | None  # None: the ambient kubeconfig (tests)
    namespace: str
    serving_gsa_email: pulumi.Input[str]  # Google SA the pods act as (Workload Identity)
    ksa_name: str  # Kubernetes SA bound to it (infra grants roles/iam.workloadIdentityUser)
    model_bucket: pulumi.Input[str]  # bucket name, weights under models/<registry name>/<ref>/
    hub_token_secret_id: pulumi.Input[str]  # "projects/P/secrets/S" or a short id (+ project_id)
    gpu_type: str  # e.g. nvidia-l4: the node selector value
    gpus_per_node: int  # = vLLM tensor parallelism = the pod's nvidia.com/gpu limit
    # The serving pool's ComputeClass (infra.nodepools.compute_class) when it has a capacity
    # chain: declared here, through the cluster's provider, and selected by every vLLM Pod.
    compute_class: dict[str, Any] | None = None
    project_id: pulumi.Input[str] = ""  # monitoring resources and short secret ids
    canary_weight: int = 0  # percent of requests to canary (stack config serving.canary_weight)
    canary_warm: bool = False  # keep the canary running at weight 0 (the release's warm-up)
    min_replicas: int = 1  # 0 parks the stable Deployment (no GPU node kept)
    max_replicas: int = 1
    stable_model: str = "champion"  # model prefix in the bucket (a version is best: immutable)
    canary_model: str = "candidate"
    gateway_class: str = "gke-l7-rilb"  # internal Application Load Balancer (proxy-only subnet)
    notification_channels: Sequence[pulumi.Input[str]] = ()  # existing channels (resource names)
    alert_emails: Sequence[str] = ()  # one email channel each, created here
    alert_pubsub_topic: str | None = None  # an existing topic: one Pub/Sub channel, created here
    mount_hub_token: bool = False  # mount the hub-token secret (it must have a version first)
    labels: dict[str, str] = field(default_factory=dict)  # extra labels (cost: team, ...)
    spec: ServingSpec | None = None  # default: serving/serving.yaml


def model_names() -> tuple[str, str]:
    """(served name, registry name) of the project's model."""
    from common.project import load_project

    model = load_project().model
    return model.served_name, model.registry_name


def track_name(track: str) -> str:
    return f"{APP}-{track}"


def selector_labels(track: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "llmops/track": track}


def hub_token_resource(secret_id: str, project_id: str) -> str:
    """The Secret Manager resource name the CSI driver mounts (latest version)."""
    if secret_id.startswith("projects/"):
        base = secret_id.split("/versions/")[0]
    else:
        if not project_id:
            raise ValueError(f"hub_token_secret_id={secret_id!r}: a short id needs project_id")
        base = f"projects/{project_id}/secrets/{secret_id}"
    return f"{base}/versions/latest"


def parked(args: ServingOnGkeArgs, track: str) -> bool:
    """No traffic, no pods: the canary at weight 0 (unless warming up), the stable track with
    min_replicas 0."""
    if track == "canary":
        return args.canary_weight == 0 and not args.canary_warm
    return args.min_replicas == 0
