"""GPU node pools: accelerators with explicit drivers, the GPU taint, autoscaling from zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.cluster import hardened_node_config
from infra.config import GpuPool, StackConfig

# GKE puts this taint on every GPU node. Declared here so the next update does not see a drift
# and recreate the pool; serving pods tolerate it.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


@dataclass
class GpuNodePoolArgs:
    cluster_name: pulumi.Input[str]
    nodes_service_account: pulumi.Input[str]


class GpuNodePool(pulumi.ComponentResource):
    def __init__(
        self,
        cfg: StackConfig,
        pool: GpuPool,
        args: GpuNodePoolArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        name = f"{cfg.prefix}-gpu-{pool.name}"
        super().__init__("llmops:gpu:GpuNodePool", name, None, opts)
        self.machine_type = pool.resolved_machine_type()
        self.zones = cfg.pool_zones(pool)
        node_config = hardened_node_config(cfg, args.nodes_service_account)
        # `Any`: nested literals are checked by the SDK; mypy cannot match them through overloads.
        autoscaling: Any = {
            "total_min_node_count": pool.min_nodes,
            "total_max_node_count": pool.max_nodes,
            # Spot capacity: take it in whichever zone has it.
            "location_policy": "ANY" if pool.spot else "BALANCED",
        }
        gpu_node_config: Any = {
            **node_config,
            "machine_type": self.machine_type,
            "spot": pool.spot,
            "disk_size_gb": pool.disk_size_gb,
            "disk_type": pool.disk_type,
            "guest_accelerators": [
                {
                    "type": pool.gpu_type,
                    "count": pool.gpus_per_node,
                    "gpu_driver_installation_config": {"gpu_driver_version": pool.driver_version},
                }
            ],
            "taints": [GPU_TAINT],
            "labels": {"llmops/pool": pool.name},
            # Cost labels last: no pool label can replace them (config also refuses the keys).
            "resource_labels": {**pool.labels, **node_config["resource_labels"]},
            # Image streaming: the multi-GB vLLM image starts before it is fully pulled.
            "gcfs_config": {"enabled": True},
            "gvnic": {"enabled": True},
        }
        self.node_pool = gcp.container.NodePool(
            f"{name}-pool",
            name=f"gpu-{pool.name}",
            project=cfg.gcp.project_id,
            location=cfg.gcp.region,
            cluster=args.cluster_name,
            # Only zones that offer this GPU (catalog/gpu_availability.yaml).
            node_locations=self.zones,
            autoscaling=autoscaling,
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            node_config=gpu_node_config,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "name": self.node_pool.name,
                "machine_type": self.machine_type,
                "zones": self.zones,
                "spot": pool.spot,
            }
        )
