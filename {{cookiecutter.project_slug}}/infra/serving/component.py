"""`ServingOnGke`: declares the rendered objects with pulumi-kubernetes, in apply order, plus the
Cloud Monitoring dashboard, notification channels and alert policies."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.serving.args import (
    APP,
    TRACKS,
    ServingOnGkeArgs,
    hub_token_resource,
    model_names,
    parked,
    track_name,
)
from infra.serving.monitoring import alert_rules, dashboard_json
from infra.serving.render import render_objects
from infra.serving.waits import await_timeout_s
from serving.spec import load_spec

PREREQUISITE_KINDS = ("ComputeClass", "Namespace")


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
        served_name, registry_name = model_names()
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
