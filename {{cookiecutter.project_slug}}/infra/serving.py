"""vLLM on GKE: the serving definition (serving/serving.yaml) deployed twice, stable + canary.

`render_objects(...)` is a pure function: it turns the serving definition and the stack's serving
settings into the Kubernetes objects as plain dicts (tests validate them without Pulumi).
`ServingOnGke` declares exactly those objects with pulumi-kubernetes, plus a Cloud Monitoring
dashboard and alert policies (`dashboard_json`, `alert_rules`, also pure).

Choices (details in serving/README.md):
- Weights come from the model bucket through the GCS FUSE CSI driver, read-only, with a file cache
  and parallel downloads: no init container copies gigabytes before start, every replica reads the
  same immutable version prefix, and a new version is a new prefix (a rollout), not a re-download
  step to keep in sync.
- The model-hub token is read from Secret Manager by the serving identity itself, through GKE's
  Secret Manager add-on (a SecretProviderClass mounted as an in-memory file, HF_TOKEN_PATH): no copy
  in etcd or in Pulumi state, rotation needs no `pulumi up`, and only the serving identity can read
  it (Google's recommended form over syncing into a Kubernetes Secret).
- Each request and answer is logged by vLLM itself as one redacted JSON line on stdout
  (serving/request_log.py): the logging config and its one-file formatter ship in a ConfigMap
  mounted read-only, named by VLLM_LOGGING_CONFIG_PATH and found via PYTHONPATH, exactly as the
  local server loads them. Cloud Logging parses JSON lines into jsonPayload (with `severity`),
  and the log sink routes them to BigQuery for `make monitor`.
- The HPA scales on `vllm:num_requests_waiting` per pod, read from Managed Prometheus
  (PodMonitoring) through the custom-metrics Stackdriver adapter.
- pulumi-kubernetes waits for a Service to have endpoints and a Deployment to roll out (10 min by
  default). A parked track (0 replicas) can never satisfy the Service wait, so its Deployment and
  Service carry `pulumi.com/skipAwait: "true"`; active ones get custom timeouts long enough for a
  GPU node to scale up plus the startup probe's window (`await_timeout_s`). Contract:
  pulumi/pulumi-kubernetes provider/pkg/await/await.go (Creation/Update skip the awaiter when
  metadata.SkipAwaitLogic(inputs)), provider/pkg/await/service.go (ready once the Endpoints object
  has subsets, DefaultServiceTimeoutMins = 10), provider/pkg/metadata/overrides.go
  (TimeoutDuration: the resource's customTimeouts first).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from serving import request_log
from serving.spec import ServingSpec, load_spec

TRACKS = ("stable", "canary")
APP = "vllm"
PORT_NAME = "http"
MODEL_MOUNT = "/models"
HUB_TOKEN_DIR = "/var/run/secrets/model-hub"
HUB_TOKEN_FILE = "hf-token"
RUN_AS = 1000
# How the HPA names a Managed Prometheus gauge through the custom-metrics Stackdriver adapter.
HPA_METRIC = "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
PREREQUISITE_KINDS = ("ComputeClass", "Namespace")
SKIP_AWAIT = "pulumi.com/skipAwait"
# Budget for a GPU node to be added from zero before the pod can start: node create, GPU driver
# install, image streaming of the multi-GB vLLM image. A ceiling, not a wait.
NODE_SCALE_UP_S = 900
# The upstream image (vllm-project/vllm docker/Dockerfile) has no USER and no passwd entry for
# RUN_AS; getpass.getuser() (torch/triton cache paths) reads these before the passwd database.
POSIX_USER = "vllm"
# The request log (serving/request_log.py): vLLM loads its logging config and formatter from a
# ConfigMap mounted here, as the local server loads them from build/serving/ and serving/.
REQUEST_LOG_CONFIG_MAP = "vllm-request-log"
REQUEST_LOG_DIR = "/etc/llmops/request-log"


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


def _names() -> tuple[str, str]:
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


def await_timeout_s(spec: ServingSpec, max_replicas: int) -> int:
    """How long Pulumi may wait for an active track's Deployment (and its Service) to be ready.

    The first pod may need a GPU node from zero (NODE_SCALE_UP_S), then up to the startup probe's
    window (failureThreshold x periodSeconds) plus one readiness period. The rollout replaces pods
    one at a time (maxSurge 1, maxUnavailable 0) and a replacement may wait for the old pod's GPU
    node (termination grace), so every further replica adds that window again.
    """
    probes = spec.gke.probes
    per_pod = (
        probes.startup.failure_threshold * probes.startup.period_s
        + probes.readiness.period_s
        + spec.gke.termination_grace_s
    )
    return NODE_SCALE_UP_S + max(1, max_replicas) * per_pod


def _replicas(args: ServingOnGkeArgs, track: str) -> tuple[int | None, int, int]:
    """(Deployment replicas or None when the HPA owns it, HPA min, HPA max).

    A parked track (stable with min_replicas 0, canary at weight 0) has replicas 0: the HPA then
    does nothing and no GPU node is kept for it.
    """
    hpa_min = max(1, args.min_replicas)
    hpa_max = max(hpa_min, args.max_replicas)
    return (0 if parked(args, track) else None), hpa_min, hpa_max


def _probe(spec: ServingSpec, kind: str) -> dict[str, Any]:
    probe = getattr(spec.gke.probes, kind)
    return {
        "httpGet": {"path": probe.path, "port": PORT_NAME},
        "periodSeconds": probe.period_s,
        "failureThreshold": probe.failure_threshold,
        "timeoutSeconds": probe.timeout_s,
    }


def _deployment(
    args: ServingOnGkeArgs,
    spec: ServingSpec,
    track: str,
    served: str,
    registry: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    gke = spec.gke
    model_ref = args.stable_model if track == "stable" else args.canary_model
    model_prefix = f"models/{registry}/{model_ref}"
    replicas, _, _ = _replicas(args, track)
    gpus = str(args.gpus_per_node)
    container: dict[str, Any] = {
        "name": "vllm",
        "image": gke.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "args": spec.gke_args(MODEL_MOUNT, served, args.gpus_per_node),
        "ports": [{"name": PORT_NAME, "containerPort": gke.port, "protocol": "TCP"}],
        "env": [
            # The root filesystem is read-only: every cache goes to the /tmp emptyDir.
            {"name": "HOME", "value": "/tmp/home"},
            # RUN_AS has no passwd entry in the image: getpass.getuser() reads these first.
            {"name": "USER", "value": POSIX_USER},
            {"name": "LOGNAME", "value": POSIX_USER},
            {"name": "HF_HOME", "value": "/tmp/hf"},
            {"name": "VLLM_CACHE_ROOT", "value": "/tmp/vllm"},
            {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
            {"name": "DO_NOT_TRACK", "value": "1"},
            {"name": "VLLM_LOGGING_CONFIG_PATH", "value": f"{REQUEST_LOG_DIR}/logging.json"},
            {"name": "PYTHONPATH", "value": REQUEST_LOG_DIR},
        ],
        "resources": {
            "requests": {
                "cpu": gke.resources.cpu,
                "memory": gke.resources.memory,
                "ephemeral-storage": gke.resources.ephemeral_storage,
                GPU_RESOURCE: gpus,
            },
            "limits": {"memory": gke.resources.memory, GPU_RESOURCE: gpus},
        },
        "startupProbe": _probe(spec, "startup"),
        "readinessProbe": _probe(spec, "readiness"),
        "livenessProbe": _probe(spec, "liveness"),
        # Stop receiving traffic first (endpoints update), then SIGTERM lets vLLM finish requests.
        "lifecycle": {"preStop": {"sleep": {"seconds": gke.prestop_sleep_s}}},
        "volumeMounts": [
            {"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True},
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "request-log", "mountPath": REQUEST_LOG_DIR, "readOnly": True},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    mount_options = ",".join(
        [
            "implicit-dirs",
            f"only-dir={model_prefix}",
            f"uid={RUN_AS}",
            f"gid={RUN_AS}",
            "file-cache:max-size-mb:-1",
            "file-cache:cache-file-for-range-read:true",
            "file-cache:enable-parallel-downloads:true",
            "metadata-cache:ttl-secs:-1",
        ]
    )
    pod: dict[str, Any] = {
        "serviceAccountName": args.ksa_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": gke.termination_grace_s,
        "nodeSelector": {ACCELERATOR_LABEL: args.gpu_type, **_compute_class_selector(args)},
        "tolerations": [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
            *_compute_class_tolerations(args),
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {
                "name": "model",
                "csi": {
                    "driver": "gcsfuse.csi.storage.gke.io",
                    "readOnly": True,
                    "volumeAttributes": {
                        "bucketName": args.model_bucket,
                        "mountOptions": mount_options,
                    },
                },
            },
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": gke.shm_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": gke.resources.ephemeral_storage}},
            # GCS FUSE file cache (on the node's boot disk / local SSD).
            {"name": "gke-gcsfuse-cache", "emptyDir": {}},
            {"name": "request-log", "configMap": {"name": REQUEST_LOG_CONFIG_MAP}},
        ],
    }
    if args.mount_hub_token:
        # Only when configured: the CSI driver mounts versions/latest, and a secret without a
        # version keeps the pod in ContainerCreating (the program never writes the value).
        container["env"].insert(
            0, {"name": "HF_TOKEN_PATH", "value": f"{HUB_TOKEN_DIR}/{HUB_TOKEN_FILE}"}
        )
        container["volumeMounts"].insert(
            1, {"name": "hub-token", "mountPath": HUB_TOKEN_DIR, "readOnly": True}
        )
        pod["volumes"].insert(
            1,
            {
                "name": "hub-token",
                "csi": {
                    "driver": "secrets-store-gke.csi.k8s.io",
                    "readOnly": True,
                    # pragma: allowlist nextline secret (a resource name, not a secret)
                    "volumeAttributes": {"secretProviderClass": "model-hub-token"},
                },
            },
        )
    spec_dict: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(track)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "template": {
            "metadata": {
                "labels": {**labels, **selector_labels(track)},
                "annotations": {
                    "gke-gcsfuse/volumes": "true",
                    # No limits on the FUSE sidecar: loading weights is its burst.
                    "gke-gcsfuse/cpu-limit": "0",
                    "gke-gcsfuse/memory-limit": "0",
                    "gke-gcsfuse/ephemeral-storage-limit": "0",
                    "llmops/model": model_prefix,
                    # A changed logging config rolls the pods (a ConfigMap edit alone does not).
                    "llmops/request-log": hashlib.sha256(
                        json.dumps(request_log_files(spec), sort_keys=True).encode()
                    ).hexdigest()[:16],
                },
            },
            "spec": pod,
        },
    }
    if replicas is not None:
        spec_dict["replicas"] = replicas
    return _obj(
        "apps/v1",
        "Deployment",
        track_name(track),
        args,
        labels,
        annotations=_await_annotations(args, track),
        spec=spec_dict,
    )


def request_log_files(spec: ServingSpec) -> dict[str, str]:
    """The ConfigMap's files: vLLM's logging config and the one-file formatter it names."""
    return {
        "logging.json": json.dumps(spec.logging_config(), indent=2, sort_keys=True),
        f"{request_log.MODULE}.py": Path(request_log.__file__).read_text(encoding="utf-8"),
    }


def _await_annotations(args: ServingOnGkeArgs, track: str) -> dict[str, str] | None:
    """A parked track's Deployment and Service: Pulumi must not wait for pods that never come."""
    return {SKIP_AWAIT: "true"} if parked(args, track) else None


def _obj(
    api_version: str,
    kind: str,
    name: str,
    args: ServingOnGkeArgs,
    labels: dict[str, str],
    namespaced: bool = True,
    annotations: dict[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespaced:
        metadata["namespace"] = args.namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def _compute_class_selector(args: ServingOnGkeArgs) -> dict[str, str]:
    if args.compute_class is None:
        return {}
    return {COMPUTE_CLASS_LABEL: args.compute_class["metadata"]["name"]}


def _compute_class_tolerations(args: ServingOnGkeArgs) -> list[dict[str, str]]:
    # GKE adds this toleration itself to Pods that select a class; said here so the pod spec
    # is the whole contract (and a cluster without that admission step schedules the same).
    selector = _compute_class_selector(args)
    return [
        {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
        for key, value in selector.items()
    ]


def render_objects(
    args: ServingOnGkeArgs,
    served_name: str | None = None,
    registry_name: str | None = None,
    hub_token_resource_name: Any = None,
) -> list[dict[str, Any]]:
    """Every Kubernetes object of the serving stack, in apply order, as plain dicts."""
    if not 0 <= args.canary_weight <= 100:
        raise ValueError(f"canary_weight={args.canary_weight}: a percentage 0-100")
    if args.gpus_per_node < 1:
        raise ValueError(f"gpus_per_node={args.gpus_per_node}: must be >= 1")
    spec = args.spec or load_spec()
    if served_name is None or registry_name is None:
        served_name, registry_name = _names()
    if hub_token_resource_name is None:
        hub_token_resource_name = hub_token_resource(
            str(args.hub_token_secret_id), str(args.project_id)
        )
    port = spec.gke.port
    autoscaling = spec.gke.autoscaling
    labels = {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/part-of": served_name,
        "app.kubernetes.io/managed-by": "pulumi",
        **args.labels,
    }
    objects: list[dict[str, Any]] = [
        *([args.compute_class] if args.compute_class else []),
        _obj("v1", "Namespace", args.namespace, args, labels, namespaced=False),
        _obj(
            "v1",
            "ServiceAccount",
            args.ksa_name,
            args,
            labels,
            annotations={"iam.gke.io/gcp-service-account": args.serving_gsa_email},
            automountServiceAccountToken=False,
        ),
    ]
    if args.mount_hub_token:
        objects.append(_secret_provider_class(args, labels, hub_token_resource_name))
    objects.append(
        _obj("v1", "ConfigMap", REQUEST_LOG_CONFIG_MAP, args, labels, data=request_log_files(spec))
    )
    for track in TRACKS:
        name = track_name(track)
        track_labels = {**labels, "llmops/track": track}
        _, hpa_min, hpa_max = _replicas(args, track)
        objects += [
            _deployment(args, spec, track, served_name, registry_name, track_labels),
            _obj(
                "v1",
                "Service",
                name,
                args,
                track_labels,
                annotations=_await_annotations(args, track),
                spec={
                    "type": "ClusterIP",
                    "selector": selector_labels(track),
                    "ports": [
                        {
                            "name": PORT_NAME,
                            "port": port,
                            "targetPort": PORT_NAME,
                            "protocol": "TCP",
                        }
                    ],
                },
            ),
            # The load balancer checks /health (its default, "/", answers 404 on vLLM).
            _obj(
                "networking.gke.io/v1",
                "HealthCheckPolicy",
                name,
                args,
                track_labels,
                spec={
                    "default": {
                        "checkIntervalSec": 10,
                        "config": {
                            "type": "HTTP",
                            # A fixed port must say so: the CRD's CEL rule refuses `port`
                            # under the default USE_SERVING_PORT (gke-gateway-api 983ac3d).
                            "httpHealthCheck": {
                                "portSpecification": "USE_FIXED_PORT",
                                "port": port,
                                "requestPath": "/health",
                            },
                        },
                    },
                    "targetRef": {"group": "", "kind": "Service", "name": name},
                },
            ),
            # Streamed completions outlive the load balancer's default 30 s backend timeout.
            _obj(
                "networking.gke.io/v1",
                "GCPBackendPolicy",
                name,
                args,
                track_labels,
                spec={
                    "default": {"timeoutSec": spec.gke.request_timeout_s},
                    "targetRef": {"group": "", "kind": "Service", "name": name},
                },
            ),
            _obj(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                name,
                args,
                track_labels,
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": hpa_min,
                    "maxReplicas": hpa_max,
                    "metrics": [
                        {
                            "type": "Pods",
                            "pods": {
                                "metric": {"name": HPA_METRIC},
                                "target": {
                                    "type": "AverageValue",
                                    "averageValue": _quantity(
                                        spec.gke.autoscaling.target_average_value
                                    ),
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
            ),
            _obj(
                "policy/v1",
                "PodDisruptionBudget",
                name,
                args,
                track_labels,
                spec={
                    "maxUnavailable": spec.gke.pdb_max_unavailable,
                    "selector": {"matchLabels": selector_labels(track)},
                },
            ),
        ]
    objects += [
        _obj(
            "monitoring.googleapis.com/v1",
            "PodMonitoring",
            APP,
            args,
            labels,
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": APP}},
                "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "15s"}],
                "targetLabels": {"fromPod": [{"from": "llmops/track", "to": "track"}]},
            },
        ),
        _obj(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            APP,
            args,
            labels,
            spec={
                "gatewayClassName": args.gateway_class,
                "listeners": [{"name": PORT_NAME, "protocol": "HTTP", "port": 80}],
            },
        ),
        _obj(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            APP,
            args,
            labels,
            spec={
                "parentRefs": [{"name": APP, "sectionName": PORT_NAME}],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                        "backendRefs": [
                            {
                                "name": track_name("stable"),
                                "port": port,
                                "weight": 100 - args.canary_weight,
                            },
                            {
                                "name": track_name("canary"),
                                "port": port,
                                "weight": args.canary_weight,
                            },
                        ],
                    }
                ],
            },
        ),
    ]
    return objects


def _secret_provider_class(
    args: ServingOnGkeArgs, labels: dict[str, str], resource_name: Any
) -> dict[str, Any]:
    """GKE's Secret Manager add-on: the hub token's latest version as an in-memory file."""

    def secrets(name: str) -> str:
        return f'- resourceName: "{name}"\n  path: "{HUB_TOKEN_FILE}"\n'

    value = (
        pulumi.Output.from_input(resource_name).apply(secrets)
        if isinstance(resource_name, pulumi.Output)
        else secrets(resource_name)
    )
    return _obj(
        "secrets-store.csi.x-k8s.io/v1",
        "SecretProviderClass",
        "model-hub-token",
        args,
        labels,
        spec={"provider": "gke", "parameters": {"secrets": value}},
    )


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"


# ---------------------------------------------------------------- Cloud Monitoring
def _namespace_filter(namespace: str) -> str:
    return f'namespace="{namespace}"'


def alert_rules(spec: ServingSpec, namespace: str) -> dict[str, tuple[str, str]]:
    """Alert name -> (PromQL that is non-empty while firing, what to do). Current vLLM names."""
    ns = _namespace_filter(namespace)
    mon = spec.monitoring
    window = "5m"
    return {
        "ttft-p95": (
            f"histogram_quantile(0.95, sum by (le, track) (rate("
            f"vllm:time_to_first_token_seconds_bucket{{{ns}}}[{window}])))"
            f" > {mon.ttft_p95_seconds}",
            "Time to first token p95 above the SLO: check queue depth and KV-cache usage; scale "
            "out (serving.max_replicas) or roll back the canary.",
        ),
        "e2e-latency-p95": (
            f"histogram_quantile(0.95, sum by (le, track) (rate("
            f"vllm:e2e_request_latency_seconds_bucket{{{ns}}}[{window}]))) > {mon.e2e_p95_seconds}",
            "End-to-end request latency p95 above the SLO.",
        ),
        "error-ratio": (
            f'sum by (track) (rate(http_requests_total{{{ns},status="5xx"}}[{window}])) / '
            f"sum by (track) (rate(http_requests_total{{{ns}}}[{window}])) > {mon.error_ratio}",
            "More than the allowed share of HTTP 5xx answers: read the pod logs; roll back a "
            "canary (make canary BACKEND=gke) before investigating.",
        ),
        "queue-depth": (
            f"max by (track) (vllm:num_requests_waiting{{{ns}}}) > {mon.queue_depth}",
            "Requests are queueing faster than replicas are added: check the HPA and the GPU "
            "node pool's max nodes and quota.",
        ),
        "kv-cache-usage": (
            f"max by (track) (vllm:kv_cache_usage_perc{{{ns}}}) > {mon.kv_cache_usage}",
            "The KV cache is nearly full (requests get preempted): lower max_model_len or "
            "max_num_seqs, or use a larger GPU.",
        ),
    }


def dashboard_json(spec: ServingSpec, namespace: str, title: str) -> str:
    """A Cloud Monitoring dashboard (PromQL widgets over Managed Prometheus), per track."""
    ns = _namespace_filter(namespace)

    def widget(name: str, query: str) -> dict[str, Any]:
        return {
            "title": name,
            "xyChart": {
                "dataSets": [{"timeSeriesQuery": {"prometheusQuery": query}, "plotType": "LINE"}],
            },
        }

    def quantile(metric: str, q: float) -> str:
        return f"histogram_quantile({q}, sum by (le, track) (rate({metric}_bucket{{{ns}}}[5m])))"

    widgets = [
        widget(
            "Requests/s by track", f"sum by (track) (rate(vllm:request_success_total{{{ns}}}[5m]))"
        ),
        widget("TTFT p50 (s)", quantile("vllm:time_to_first_token_seconds", 0.5)),
        widget("TTFT p95 (s)", quantile("vllm:time_to_first_token_seconds", 0.95)),
        widget("Inter-token latency p95 (s)", quantile("vllm:inter_token_latency_seconds", 0.95)),
        widget("E2E latency p95 (s)", quantile("vllm:e2e_request_latency_seconds", 0.95)),
        widget(
            "Output tokens/s", f"sum by (track) (rate(vllm:generation_tokens_total{{{ns}}}[5m]))"
        ),
        widget("Waiting requests", f"sum by (track) (vllm:num_requests_waiting{{{ns}}})"),
        widget("Running requests", f"sum by (track) (vllm:num_requests_running{{{ns}}})"),
        widget("KV-cache usage", f"max by (track) (vllm:kv_cache_usage_perc{{{ns}}})"),
        widget(
            "HTTP 5xx/s", f'sum by (track) (rate(http_requests_total{{{ns},status="5xx"}}[5m]))'
        ),
    ]
    tiles = [
        {"xPos": (i % 2) * 24, "yPos": (i // 2) * 16, "width": 24, "height": 16, "widget": w}
        for i, w in enumerate(widgets)
    ]
    return json.dumps(
        {"displayName": title, "mosaicLayout": {"columns": 48, "tiles": tiles}}, sort_keys=True
    )


# ---------------------------------------------------------------- the component
def _resource(obj: dict[str, Any], name: str, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """Declare one rendered object with its typed pulumi-kubernetes class (CRDs: CustomResource)."""
    import pulumi_kubernetes as k8s

    typed = {
        "Namespace": k8s.core.v1.Namespace,
        "ServiceAccount": k8s.core.v1.ServiceAccount,
        "ConfigMap": k8s.core.v1.ConfigMap,
        "Service": k8s.core.v1.Service,
        "Deployment": k8s.apps.v1.Deployment,
        "HorizontalPodAutoscaler": k8s.autoscaling.v2.HorizontalPodAutoscaler,
        "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    }
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if obj["kind"] in typed:
        cls = typed[obj["kind"]]
        if obj["kind"] == "ServiceAccount":
            body["automount_service_account_token"] = body.pop("automountServiceAccountToken")
        return cls(name, opts=opts, **body)
    return k8s.apiextensions.CustomResource(
        name, api_version=obj["apiVersion"], kind=obj["kind"], opts=opts, **body
    )


class ServingOnGke(pulumi.ComponentResource):
    """Namespace, identity, stable + canary vLLM Deployments, weighted route, scaling, alerts."""

    def __init__(
        self, name: str, args: ServingOnGkeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:serving:ServingOnGke", name, None, opts)
        import pulumi_gcp as gcp

        spec = args.spec or load_spec()
        served_name, registry_name = _names()
        token = pulumi.Output.all(args.hub_token_secret_id, args.project_id).apply(
            lambda v: hub_token_resource(str(v[0]), str(v[1]))
        )
        objects = render_objects(args, served_name, registry_name, token)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        # Active tracks' Deployments and Services: wait as long as a cold GPU start can take.
        wait = f"{await_timeout_s(spec, args.max_replicas)}s"
        active_timeouts = pulumi.CustomTimeouts(create=wait, update=wait)
        active = {track_name(t) for t in TRACKS if not parked(args, t)}
        self.resources: dict[str, pulumi.Resource] = {}
        # The namespace everything else lives in, and the ComputeClass its Pods select.
        prerequisites: list[pulumi.Resource] = []
        for obj in objects:
            key = f"{obj['kind']}/{obj['metadata']['name']}"
            options = k8s_opts
            if prerequisites and obj["kind"] not in PREREQUISITE_KINDS:
                options = pulumi.ResourceOptions.merge(
                    k8s_opts, pulumi.ResourceOptions(depends_on=list(prerequisites))
                )
            if obj["kind"] in ("Deployment", "Service") and obj["metadata"]["name"] in active:
                options = pulumi.ResourceOptions.merge(
                    options, pulumi.ResourceOptions(custom_timeouts=active_timeouts)
                )
            resource = _resource(
                obj, f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}", options
            )
            if obj["kind"] in PREREQUISITE_KINDS:
                prerequisites.append(resource)
            self.resources[key] = resource

        gcp_opts = pulumi.ResourceOptions(parent=self)
        project = args.project_id or None
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            dashboard_json=dashboard_json(spec, args.namespace, f"{served_name} serving (vLLM)"),
            project=project,
            opts=gcp_opts,
        )
        # Notification channels: created here for emails and a Pub/Sub topic, plus existing ones.
        self.channels: list[gcp.monitoring.NotificationChannel] = [
            gcp.monitoring.NotificationChannel(
                f"{name}-notify-email-{i}",
                display_name=f"{served_name} serving alerts: {address}",
                type="email",
                labels={"email_address": address},
                project=project,
                opts=gcp_opts,
            )
            for i, address in enumerate(args.alert_emails)
        ]
        if args.alert_pubsub_topic:
            self.channels.append(
                gcp.monitoring.NotificationChannel(
                    f"{name}-notify-pubsub",
                    display_name=f"{served_name} serving alerts: Pub/Sub",
                    type="pubsub",
                    labels={"topic": args.alert_pubsub_topic},
                    project=project,
                    opts=gcp_opts,
                )
            )
        channels = [c.name for c in self.channels] + list(args.notification_channels)
        self.alerts = [
            gcp.monitoring.AlertPolicy(
                f"{name}-alert-{alert}",
                display_name=f"{served_name}: {alert}",
                combiner="OR",
                conditions=[
                    {
                        "display_name": alert,
                        "condition_prometheus_query_language": {
                            "query": query,
                            "duration": f"{spec.monitoring.duration_s}s",
                            "evaluation_interval": "60s",
                            # The vllm:* series exist only once a pod has been scraped; without
                            # this Cloud Monitoring rejects the policy at creation.
                            "disable_metric_validation": True,
                        },
                    }
                ],
                documentation={"content": advice, "mime_type": "text/markdown"},
                notification_channels=channels,
                severity="WARNING" if alert in ("kv-cache-usage", "queue-depth") else "ERROR",
                user_labels={
                    k.replace(".", "_").replace("/", "_"): v for k, v in args.labels.items()
                },
                project=project,
                opts=gcp_opts,
            )
            for alert, (query, advice) in alert_rules(spec, args.namespace).items()
        ]
        # In-cluster URLs of each track's Service: what the canary gate measures, side by side
        # (stack outputs serving_<track>_endpoint; reachable from a runner inside the cluster or
        # through `kubectl port-forward`).
        self.endpoints = {
            track: f"http://{track_name(track)}.{args.namespace}.svc.cluster.local:"
            f"{spec.gke.port}/v1"
            for track in TRACKS
        }
        self.register_outputs(
            {
                "namespace": args.namespace,
                "gateway": APP,
                "canary_weight": args.canary_weight,
                "dashboard": self.dashboard.id,
            }
        )
