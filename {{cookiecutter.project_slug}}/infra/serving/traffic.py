"""How requests reach a track: its Service, the load balancer's policies on it, and the weighted
Gateway route that splits traffic between stable and canary."""

from __future__ import annotations

from typing import Any

from infra.serving.args import APP, PORT_NAME, ServingOnGkeArgs, selector_labels, track_name
from infra.serving.metadata import Track, obj
from infra.serving.waits import await_annotations
from serving.spec import ServingSpec


def _target(t: Track) -> dict[str, str]:
    return {"group": "", "kind": "Service", "name": t.name}


def service(t: Track) -> dict[str, Any]:
    return t.obj(
        "v1",
        "Service",
        annotations=await_annotations(t.args, t.track),
        spec={
            "type": "ClusterIP",
            "selector": selector_labels(t.track),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": t.spec.gke.port,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    )


def health_check_policy(t: Track) -> dict[str, Any]:
    """The load balancer checks /health (its default, "/", answers 404 on vLLM)."""
    return t.obj(
        "networking.gke.io/v1",
        "HealthCheckPolicy",
        spec={
            "default": {
                "checkIntervalSec": 10,
                "config": {
                    "type": "HTTP",
                    # A fixed port must say so: the CRD's CEL rule refuses `port`
                    # under the default USE_SERVING_PORT (gke-gateway-api 983ac3d).
                    "httpHealthCheck": {
                        "portSpecification": "USE_FIXED_PORT",
                        "port": t.spec.gke.port,
                        "requestPath": "/health",
                    },
                },
            },
            "targetRef": _target(t),
        },
    )


def backend_policy(t: Track) -> dict[str, Any]:
    """Streamed completions outlive the load balancer's default 30 s backend timeout."""
    return t.obj(
        "networking.gke.io/v1",
        "GCPBackendPolicy",
        spec={"default": {"timeoutSec": t.spec.gke.request_timeout_s}, "targetRef": _target(t)},
    )


def gateway(args: ServingOnGkeArgs, labels: dict[str, str]) -> dict[str, Any]:
    """One HTTP listener on the configured class (default: the internal Application LB)."""
    listener = {"name": PORT_NAME, "protocol": "HTTP", "port": 80}
    spec = {"gatewayClassName": args.gateway_class, "listeners": [listener]}
    return obj("gateway.networking.k8s.io/v1", "Gateway", APP, args, labels, spec=spec)


def http_route(args: ServingOnGkeArgs, spec: ServingSpec, labels: dict[str, str]) -> dict[str, Any]:
    """All of /v1 to stable and canary, weighted by canary_weight."""
    port = spec.gke.port
    weights = {"stable": 100 - args.canary_weight, "canary": args.canary_weight}
    return obj(
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
                        {"name": track_name(track), "port": port, "weight": weight}
                        for track, weight in weights.items()
                    ],
                }
            ],
        },
    )
