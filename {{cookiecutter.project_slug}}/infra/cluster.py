"""The GKE cluster (default pool removed) and its system node pool; a kubeconfig for providers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.network import PODS_RANGE, SERVICES_RANGE

NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def hardened_node_config(cfg: StackConfig, service_account: pulumi.Input[str]) -> dict[str, Any]:
    """Node settings every pool shares: own identity, GKE metadata server, shielded VM."""
    return {
        "service_account": service_account,
        "oauth_scopes": NODE_SCOPES,
        # Pods see the GKE metadata server only: Workload Identity instead of the node's identity.
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {
            "enable_secure_boot": True,
            "enable_integrity_monitoring": True,
        },
        "resource_labels": cfg.cost_labels(),
    }


@dataclass
class ClusterArgs:
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    nodes_service_account: pulumi.Input[str]


class Cluster(pulumi.ComponentResource):
    def __init__(
        self, cfg: StackConfig, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:cluster:Cluster", f"{cfg.prefix}-cluster", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, region, prefix = cfg.gcp.project_id, cfg.gcp.region, cfg.prefix
        settings = cfg.cluster
        # Nested literals are checked by the SDK at run time; mypy cannot match them to its
        # TypedDicts through the overloads, hence `Any` for the mixed-value blocks.
        authorized: Any = (
            {
                "cidr_blocks": [
                    {"cidr_block": str(n.cidr), "display_name": n.name}
                    for n in settings.master_authorized_networks
                ]
            }
            if settings.master_authorized_networks
            else None
        )
        # Clients reach the control plane through its DNS endpoint: IAM-authenticated
        # (container.clusters.connect), from anywhere, so GitHub-hosted runners work without
        # fixed ranges. The IP endpoint is private (the VPC) unless authorized networks are
        # listed; then its public address accepts those ranges only (never 0.0.0.0/0: config).
        public_ip_endpoint = bool(settings.master_authorized_networks)
        control_plane: Any = {
            "dns_endpoint_config": {"allow_external_traffic": True},
            "ip_endpoints_config": {"enabled": True},
        }
        private_cluster: Any = {
            "enable_private_nodes": True,
            "enable_private_endpoint": not public_ip_endpoint,
            "master_ipv4_cidr_block": str(cfg.network.master_cidr),
            "master_global_access_config": {"enabled": True},
        }
        monitoring: Any = {
            "enable_components": ["SYSTEM_COMPONENTS"],
            "managed_prometheus": {"enabled": True},
        }
        # The temporary default pool (deleted right after creation) would otherwise run as the
        # Compute Engine default service account: CI cannot act as it, and hardened organisations
        # delete it. `node_config` is that pool's config (pulumi_gcp container.Cluster:
        # "Parameters used in creating the default node pool").
        default_pool: Any = hardened_node_config(cfg, args.nodes_service_account)
        self.cluster = gcp.container.Cluster(
            f"{prefix}-gke",
            name=prefix,
            project=project,
            location=region,
            network=args.network,
            subnetwork=args.subnet,
            # Node pools are separate resources, so changing one never recreates the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=default_pool,
            deletion_protection=settings.deletion_protection,
            networking_mode="VPC_NATIVE",
            datapath_provider="ADVANCED_DATAPATH",
            ip_allocation_policy={
                "cluster_secondary_range_name": PODS_RANGE,
                "services_secondary_range_name": SERVICES_RANGE,
            },
            private_cluster_config=private_cluster,
            master_authorized_networks_config=authorized,
            control_plane_endpoints_config=control_plane,
            workload_identity_config={"workload_pool": f"{project}.svc.id.goog"},
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            release_channel={"channel": settings.release_channel},
            addons_config={
                "gcs_fuse_csi_driver_config": {"enabled": True},
                "gce_persistent_disk_csi_driver_config": {"enabled": True},
                "http_load_balancing": {"disabled": False},
                "horizontal_pod_autoscaling": {"disabled": False},
            },
            gateway_api_config={"channel": "CHANNEL_STANDARD"},
            # Serving mounts the model-hub token from Secret Manager (CSI), never via etcd.
            secret_manager_config={"enabled": True},
            monitoring_config=monitoring,
            # GKE's performance HPA profile: metrics collected every few seconds instead of
            # every 15-60 s, so the vLLM HPA reacts to a queue while it forms (pulumi_gcp
            # ClusterPodAutoscalingArgs; GKE "Configuring the performance HPA profile").
            pod_autoscaling={"hpa_profile": "PERFORMANCE"},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            # GKE cost allocation splits the bill by namespace and label.
            cost_management_config={"enabled": True},
            resource_labels=cfg.cost_labels(),
            # The default pool is gone after creation: a later change to its node_config (or
            # GKE reporting it differently) must never plan a replacement of the cluster.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["nodeConfig"])
            ),
        )
        pool = settings.system_pool
        system_scaling: Any = {
            "total_min_node_count": pool.min_nodes,
            "total_max_node_count": pool.max_nodes,
            "location_policy": "BALANCED",
        }
        system_node_config: Any = {
            **hardened_node_config(cfg, args.nodes_service_account),
            "machine_type": pool.machine_type,
            "disk_size_gb": pool.disk_size_gb,
            "disk_type": "pd-balanced",
            "labels": {"llmops/pool": "system"},
        }
        self.system_pool = gcp.container.NodePool(
            f"{prefix}-system",
            name="system",
            project=project,
            location=region,
            cluster=self.cluster.name,
            autoscaling=system_scaling,
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            node_config=system_node_config,
            opts=child,
        )
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            kubeconfig(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.master_auth,
                self.cluster.control_plane_endpoints_config,
            )
        )
        self.register_outputs(
            {"name": self.cluster.name, "endpoint": self.cluster.endpoint, "system_pool": "system"}
        )


def _field(value: Any, key: str) -> Any:
    """`value.key` of an SDK output type, or `value[key]` of a plain dict; None when absent."""
    if value is None:
        return None
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def dns_endpoint(endpoints: Any) -> str | None:
    return _field(_field(endpoints, "dns_endpoint_config"), "endpoint")


def kubeconfig(
    name: pulumi.Output[str],
    endpoint: pulumi.Output[str],
    master_auth: pulumi.Output,
    endpoints: pulumi.Output | None = None,
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (no static credentials).

    It names the DNS endpoint when GKE reports one (served with a publicly trusted
    certificate, so no CA data), else the IP endpoint with the cluster's CA.
    """

    def render(values: list) -> str:
        cluster_name, host, auth, planes = values
        dns = dns_endpoint(planes)
        cluster: dict[str, Any] = (
            {"server": f"https://{dns}"}
            if dns
            else {
                "server": f"https://{host}",
                "certificate-authority-data": _field(auth, "cluster_ca_certificate"),
            }
        )
        context = f"gke-{cluster_name}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "gcloud components install gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                        }
                    },
                }
            ],
        }
        return json.dumps(config)

    return pulumi.Output.all(name, endpoint, master_auth, endpoints).apply(render)
