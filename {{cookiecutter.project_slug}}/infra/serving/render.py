"""Every Kubernetes object of the serving stack, built kind by kind, in apply order."""

from __future__ import annotations

from typing import Any

from infra.serving import monitoring, mounts, traffic, workloads
from infra.serving.args import TRACKS, ServingOnGkeArgs, hub_token_resource, model_names
from infra.serving.metadata import Track, common_labels
from infra.serving.namespace import namespace, service_account
from serving.spec import load_spec


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
        served_name, registry_name = model_names()
    if hub_token_resource_name is None:
        hub_token_resource_name = hub_token_resource(
            str(args.hub_token_secret_id), str(args.project_id)
        )
    labels = common_labels(args, served_name)
    # The ComputeClass first: cluster-scoped, and selected by the Pods below.
    objects: list[dict[str, Any]] = [
        *([args.compute_class] if args.compute_class else []),
        namespace(args, labels),
        service_account(args, labels),
    ]
    if args.mount_hub_token:
        objects.append(mounts.secret_provider_class(args, labels, hub_token_resource_name))
    objects.append(mounts.request_log_config_map(args, spec, labels))
    objects.append(mounts.weights_check_config_map(args, labels))
    for track in TRACKS:
        t = Track(args, spec, track, {**labels, "llmops/track": track})
        objects += [
            workloads.deployment(t, served_name, registry_name),
            traffic.service(t),
            traffic.health_check_policy(t),
            traffic.backend_policy(t),
            workloads.horizontal_pod_autoscaler(t),
            workloads.pod_disruption_budget(t),
        ]
    objects += [
        monitoring.pod_monitoring(args, labels),
        traffic.gateway(args, labels),
        traffic.http_route(args, spec, labels),
    ]
    return objects
