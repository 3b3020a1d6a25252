"""The whole program: components in dependency order, and what serving and the stack export.

`build(cfg)` is what `pulumi up` runs (through infra/__main__.py) and what `make plan` records
under mocks, so the offline plan is the real program.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.cluster import Cluster, ClusterArgs
from infra.config import StackConfig
from infra.identity import Identity
from infra.metrics_adapter import MetricsAdapter
from infra.monitoring_logs import RequestLogs, RequestLogsArgs
from infra.network import Network
from infra.nodepools import GpuNodePool, GpuNodePoolArgs
from infra.secrets import Secrets, SecretsArgs
from infra.services import Services
from infra.serving import ServingOnGke, ServingOnGkeArgs
from infra.storage import Storage, StorageArgs
from infra.vertex import Vertex, VertexArgs


@dataclass
class Platform:
    """Everything the program declared; serving and tests read from here."""

    cfg: StackConfig
    services: Services
    identity: Identity
    network: Network
    cluster: Cluster
    gpu_pools: list[GpuNodePool]
    storage: Storage
    secrets: Secrets
    vertex: Vertex | None
    k8s_provider: k8s.Provider
    serving: ServingOnGke
    request_logs: RequestLogs


def build(cfg: StackConfig) -> Platform:
    gcp_provider = gcp.Provider(
        f"{cfg.prefix}-gcp", project=cfg.gcp.project_id, region=cfg.gcp.region
    )
    base = pulumi.ResourceOptions(providers=[gcp_provider])
    services = Services(cfg, opts=base)
    after_apis = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[services]))

    identity = Identity(cfg, opts=after_apis)
    network = Network(cfg, opts=after_apis)
    cluster = Cluster(
        cfg,
        ClusterArgs(
            network=network.vpc.id,
            subnet=network.subnet.id,
            nodes_service_account=identity.email("nodes"),
        ),
        opts=after_apis,
    )
    gpu_pools = [
        GpuNodePool(
            cfg,
            pool,
            GpuNodePoolArgs(
                cluster_name=cluster.cluster.name,
                nodes_service_account=identity.email("nodes"),
            ),
            opts=after_apis,
        )
        for pool in cfg.gpu_pools
    ]
    storage = Storage(
        cfg,
        StorageArgs(
            model_readers=[identity.member("serving")],
            model_writers=[identity.member("pipelines"), identity.member("ci")],
            image_readers=[identity.member("nodes")],
            image_writers=[identity.member("ci")],
        ),
        opts=after_apis,
    )
    secrets = Secrets(cfg, SecretsArgs(serving_member=identity.member("serving")), opts=after_apis)
    vertex = (
        Vertex(
            cfg,
            VertexArgs(
                pipelines_account=identity.accounts["pipelines"].name,
                pipelines_member=identity.member("pipelines"),
                submitter_member=identity.member("ci"),
            ),
            opts=after_apis,
        )
        if cfg.vertex.enabled
        else None
    )
    # Kubernetes resources (serving) go through this provider, which talks to the new cluster.
    k8s_provider = k8s.Provider(
        f"{cfg.prefix}-k8s",
        kubeconfig=cluster.kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(depends_on=[*gpu_pools, cluster]),
    )
    # The HPA's Pods metric is served by the custom-metrics adapter: declared before serving.
    metrics_adapter = MetricsAdapter(
        f"{cfg.prefix}-metrics-adapter",
        identity.email("metrics"),
        k8s_provider,
        opts=after_apis,
    )
    serving = ServingOnGke(
        f"{cfg.prefix}-serving",
        ServingOnGkeArgs(
            k8s_provider=k8s_provider,
            namespace=cfg.serving.namespace,
            serving_gsa_email=identity.email("serving"),
            ksa_name=cfg.serving.service_account,
            model_bucket=storage.model_bucket.name,
            hub_token_secret_id=secrets.hub_token.name,
            gpu_type=cfg.gpu_pools[0].gpu_type,
            gpus_per_node=cfg.gpu_pools[0].gpus_per_node,
            compute_class=gpu_pools[0].compute_class,
            project_id=cfg.gcp.project_id,
            canary_weight=cfg.serving.canary_weight,
            canary_warm=cfg.serving.canary_warm,
            min_replicas=cfg.serving.min_replicas,
            max_replicas=cfg.serving.max_replicas,
            stable_model=cfg.serving.stable_model,
            canary_model=cfg.serving.canary_model,
            mount_hub_token=cfg.serving.mount_hub_token,
            notification_channels=cfg.alerts.channels,
            alert_emails=cfg.alerts.emails,
            alert_pubsub_topic=cfg.alerts.pubsub_topic,
            labels=cfg.cost_labels(),
        ),
        opts=pulumi.ResourceOptions.merge(
            after_apis,
            pulumi.ResourceOptions(depends_on=[*gpu_pools, storage, secrets, metrics_adapter]),
        ),
    )
    # vLLM's request/response lines from Cloud Logging to BigQuery, for the monitor.
    request_logs = RequestLogs(
        cfg,
        RequestLogsArgs(cluster_name=cluster.cluster.name, readers=[identity.member("monitor")]),
        opts=after_apis,
    )
    return Platform(
        cfg=cfg,
        services=services,
        identity=identity,
        network=network,
        cluster=cluster,
        gpu_pools=gpu_pools,
        storage=storage,
        secrets=secrets,
        vertex=vertex,
        k8s_provider=k8s_provider,
        serving=serving,
        request_logs=request_logs,
    )


def export(platform: Platform) -> None:
    """Stack outputs: what workflows and people need after `pulumi up`."""
    pulumi.export("cluster_name", platform.cluster.cluster.name)
    pulumi.export("region", platform.cfg.gcp.region)
    pulumi.export("model_bucket", platform.storage.model_bucket.name)
    pulumi.export("registry_url", platform.storage.registry_url)
    pulumi.export("hub_token_secret", platform.secrets.hub_token.secret_id)
    pulumi.export("workload_identity_provider", platform.identity.github_provider.name)
    for name, account in platform.identity.accounts.items():
        pulumi.export(f"{name}_service_account", account.email)
    if platform.vertex is not None:
        pulumi.export("pipeline_root", platform.vertex.pipeline_root_uri)
    for track, url in platform.serving.endpoints.items():
        pulumi.export(f"serving_{track}_endpoint", url)
    # What `make monitor STACK=...` reads (infra/README.md "Request logs").
    logs = platform.request_logs
    pulumi.export("request_logs_dataset", logs.dataset.dataset_id)
    pulumi.export("request_logs_table", logs.table)
    pulumi.export("request_logs_retention_days", logs.retention_days)
    pulumi.export("request_logs_sink_writer", logs.sink.writer_identity)
    pulumi.export("kubeconfig", platform.cluster.kubeconfig)
