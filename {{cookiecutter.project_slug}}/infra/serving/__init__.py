"""vLLM on GKE: the serving definition (serving/serving.yaml) deployed twice, stable + canary.

`render_objects(...)` is a pure function: it turns the serving definition and the stack's serving
settings into the Kubernetes objects as plain dicts (tests validate them without Pulumi).
`ServingOnGke` declares exactly those objects with pulumi-kubernetes, plus a Cloud Monitoring
dashboard and alert policies (`dashboard_json`, `alert_rules`, also pure).

One module per concern, each with the "why" of its choices (details in serving/README.md):
`args` (the inputs, shared names), `pod` (the vLLM container, weights through GCS FUSE),
`mounts` (hub token SecretProviderClass, request-log ConfigMap), `workloads` (Deployment, HPA,
PodDisruptionBudget), `traffic` (Service, load-balancer policies, Gateway, HTTPRoute),
`monitoring` (PodMonitoring, dashboard, alerts), `namespace` (Namespace, ServiceAccount),
`waits` (when and how long Pulumi waits), `render` (all of them in apply order) and `component`
(the ComponentResource).
"""

from infra.serving.args import (
    APP,
    PORT_NAME,
    TRACKS,
    ServingOnGkeArgs,
    hub_token_resource,
    parked,
    selector_labels,
    track_name,
)
from infra.serving.component import PREREQUISITE_KINDS, ServingOnGke
from infra.serving.monitoring import alert_rules, dashboard_json
from infra.serving.mounts import (
    HUB_TOKEN_DIR,
    HUB_TOKEN_FILE,
    REQUEST_LOG_CONFIG_MAP,
    REQUEST_LOG_DIR,
    request_log_files,
)
from infra.serving.pod import (
    ACCELERATOR_LABEL,
    COMPUTE_CLASS_LABEL,
    GPU_RESOURCE,
    MODEL_MOUNT,
    POSIX_USER,
    RUN_AS,
)
from infra.serving.render import render_objects
from infra.serving.waits import NODE_SCALE_UP_S, SKIP_AWAIT, await_timeout_s
from infra.serving.workloads import HPA_METRIC

__all__ = [
    "ACCELERATOR_LABEL",
    "APP",
    "COMPUTE_CLASS_LABEL",
    "GPU_RESOURCE",
    "HPA_METRIC",
    "HUB_TOKEN_DIR",
    "HUB_TOKEN_FILE",
    "MODEL_MOUNT",
    "NODE_SCALE_UP_S",
    "PORT_NAME",
    "POSIX_USER",
    "PREREQUISITE_KINDS",
    "REQUEST_LOG_CONFIG_MAP",
    "REQUEST_LOG_DIR",
    "RUN_AS",
    "SKIP_AWAIT",
    "TRACKS",
    "ServingOnGke",
    "ServingOnGkeArgs",
    "alert_rules",
    "await_timeout_s",
    "dashboard_json",
    "hub_token_resource",
    "parked",
    "render_objects",
    "request_log_files",
    "selector_labels",
    "track_name",
]
