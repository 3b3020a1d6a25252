"""The vLLM Pod: one GPU container reading the weights through GCS FUSE, locked down.

Weights come from the model bucket through the GCS FUSE CSI driver, read-only, with a file cache
and parallel downloads: no init container copies gigabytes before start, every replica reads the
same immutable version prefix, and a new version is a new prefix (a rollout), not a re-download
step to keep in sync. One init container reads them once first, to check them against the
version's MANIFEST.json (the file cache then serves vLLM's read).
"""

from __future__ import annotations

from typing import Any

from infra.node_sizing import vllm_pod_size
from infra.serving.args import PORT_NAME, ServingOnGkeArgs
from infra.serving.mounts import (
    HUB_TOKEN_DIR,
    HUB_TOKEN_FILE,
    REQUEST_LOG_CONFIG_MAP,
    REQUEST_LOG_DIR,
    WEIGHTS_CHECK_CONFIG_MAP,
    WEIGHTS_CHECK_DIR,
    WEIGHTS_CHECK_FILE,
)
from serving.spec import ServingSpec

MODEL_MOUNT = "/models"
RUN_AS = 1000
# The upstream image (vllm-project/vllm docker/Dockerfile) has no USER and no passwd entry for
# RUN_AS; getpass.getuser() (torch/triton cache paths) reads these before the passwd database.
POSIX_USER = "vllm"
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"


def _probe(spec: ServingSpec, kind: str) -> dict[str, Any]:
    probe = getattr(spec.gke.probes, kind)
    return {
        "httpGet": {"path": probe.path, "port": PORT_NAME},
        "periodSeconds": probe.period_s,
        "failureThreshold": probe.failure_threshold,
        "timeoutSeconds": probe.timeout_s,
    }


def _container(args: ServingOnGkeArgs, spec: ServingSpec, served: str) -> dict[str, Any]:
    gke = spec.gke
    gpus = str(args.gpus_per_node)
    # The node's allocatable CPU and memory, less GKE's DaemonSets and the GCS FUSE sidecar.
    size = vllm_pod_size(args.gpu_type, args.gpus_per_node, gke.resources)
    return {
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
                "cpu": size.cpu,
                "memory": size.memory,
                "ephemeral-storage": gke.resources.ephemeral_storage,
                GPU_RESOURCE: gpus,
            },
            "limits": {"memory": size.memory, GPU_RESOURCE: gpus},
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


def _model_mount_options(model_prefix: str) -> str:
    return ",".join(
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


def _weights_check(spec: ServingSpec, container: dict[str, Any]) -> dict[str, Any]:
    """The init container: the mounted version must be the one published (its MANIFEST.json),
    or the Pod never starts vLLM. The GCS FUSE sidecar is a native sidecar (GKE 1.29+), so the
    volume is mounted for init containers too."""
    return {
        "name": "weights-check",
        "image": spec.gke.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", f"{WEIGHTS_CHECK_DIR}/{WEIGHTS_CHECK_FILE}", MODEL_MOUNT],
        "resources": {
            "requests": {"cpu": "1", "memory": "512Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": dict(container["securityContext"]),
        "volumeMounts": [
            {"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True},
            {"name": "weights-check", "mountPath": WEIGHTS_CHECK_DIR, "readOnly": True},
        ],
    }


def _mount_hub_token(container: dict[str, Any], pod: dict[str, Any]) -> None:
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


def pod_spec(
    args: ServingOnGkeArgs, spec: ServingSpec, served: str, model_prefix: str
) -> dict[str, Any]:
    """A track's Pod spec: vLLM serving `served` from the bucket prefix `model_prefix`."""
    gke = spec.gke
    container = _container(args, spec, served)
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
        "initContainers": [_weights_check(spec, container)],
        "containers": [container],
        "volumes": [
            {
                "name": "model",
                "csi": {
                    "driver": "gcsfuse.csi.storage.gke.io",
                    "readOnly": True,
                    "volumeAttributes": {
                        "bucketName": args.model_bucket,
                        "mountOptions": _model_mount_options(model_prefix),
                    },
                },
            },
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": gke.shm_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": gke.resources.ephemeral_storage}},
            # GCS FUSE file cache (on the node's boot disk / local SSD).
            {"name": "gke-gcsfuse-cache", "emptyDir": {}},
            {"name": "request-log", "configMap": {"name": REQUEST_LOG_CONFIG_MAP}},
            {"name": "weights-check", "configMap": {"name": WEIGHTS_CHECK_CONFIG_MAP}},
        ],
    }
    if args.mount_hub_token:
        _mount_hub_token(container, pod)
    return pod
