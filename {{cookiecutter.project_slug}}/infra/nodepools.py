"""GPU node pools: accelerators with explicit drivers, the GPU taint, autoscaling from zero, and
a node pool per capacity option with the ComputeClass that chains them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.cluster import hardened_node_config
from infra.config import CAPACITY_SUFFIX, CapacityOption, GpuPool, StackConfig
from infra.serving import COMPUTE_CLASS_LABEL

# GKE puts this taint on every GPU node. Declared here so the next update does not see a drift
# and recreate the pool; serving pods tolerate it.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"
NO_RESERVATION = {"consume_reservation_type": "NO_RESERVATION"}


@dataclass
class GpuNodePoolArgs:
    cluster_name: pulumi.Input[str]
    nodes_service_account: pulumi.Input[str]


def capacity_node_config(option: CapacityOption, reservation: str | None) -> dict[str, Any]:
    """Node settings that draw nodes from one capacity option (pulumi_gcp NodePoolNodeConfig)."""
    if option == "spot":
        return {"spot": True}
    if option == "flex-start":
        # Flex-start VMs never consume reservations (GKE "About flex-start provisioning").
        return {"flex_start": True, "reservation_affinity": NO_RESERVATION}
    if option == "reservation":
        return {
            "reservation_affinity": {
                "consume_reservation_type": "SPECIFIC_RESERVATION",
                "key": RESERVATION_NAME_KEY,
                "values": [reservation],
            }
        }
    # On-demand: also uses any matching open reservation first (GKE's default, ANY_RESERVATION).
    return {}


def compute_class(pool: GpuPool) -> dict[str, Any] | None:
    """The GKE custom ComputeClass of a capacity chain: its node pools in the chain's order.

    GKE scales up the first priority that can get capacity and, with active migration, moves
    Pods back to a more preferred one when it frees up (GKE "About custom ComputeClasses").
    """
    name = pool.compute_class
    if name is None:
        return None
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": name, "labels": {"llmops/pool": pool.name}},
        "spec": {
            "priorities": [{"nodepools": [pool.node_pool_name(c)]} for c in pool.capacity],
            # Only the pools declared here: never an auto-created pool outside the chain.
            "nodePoolAutoCreation": {"enabled": False},
            "whenUnsatisfiable": "DoNotScaleUp",
            "activeMigration": {"optimizeRulePriority": True},
        },
    }


class GpuNodePool(pulumi.ComponentResource):
    """One GPU pool of the stack: a node pool per capacity option, in the chain's order."""

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
        self.compute_class = compute_class(pool)
        node_config = hardened_node_config(cfg, args.nodes_service_account)
        labels = {"llmops/pool": pool.name}
        taints = [GPU_TAINT]
        if pool.compute_class:
            # A node pool in a ComputeClass carries the class as label and taint, so only Pods
            # that select the class land on it (GKE "About custom ComputeClasses", Standard).
            labels[COMPUTE_CLASS_LABEL] = pool.compute_class
            taints.append(
                {"key": COMPUTE_CLASS_LABEL, "value": pool.compute_class, "effect": "NO_SCHEDULE"}
            )
        self.node_pools = []
        for option in pool.capacity:
            suffix = "" if pool.compute_class is None else f"-{CAPACITY_SUFFIX[option]}"
            # `Any`: nested literals are checked by the SDK; mypy cannot match them (overloads).
            autoscaling: Any = {
                "total_min_node_count": pool.min_nodes,
                "total_max_node_count": pool.max_nodes,
                # Spot and flex-start capacity: take it in whichever zone has it.
                "location_policy": "BALANCED" if option in ("on-demand", "reservation") else "ANY",
            }
            gpu_node_config: Any = {
                **node_config,
                "machine_type": self.machine_type,
                "spot": False,
                "disk_size_gb": pool.disk_size_gb,
                "disk_type": pool.disk_type,
                "guest_accelerators": [
                    {
                        "type": pool.gpu_type,
                        "count": pool.gpus_per_node,
                        "gpu_driver_installation_config": {
                            "gpu_driver_version": pool.driver_version
                        },
                    }
                ],
                "taints": taints,
                "labels": labels,
                # Cost labels last: no pool label can replace them (config also refuses the keys).
                "resource_labels": {**pool.labels, **node_config["resource_labels"]},
                # Image streaming: the multi-GB vLLM image starts before it is fully pulled.
                "gcfs_config": {"enabled": True},
                "gvnic": {"enabled": True},
                **capacity_node_config(option, pool.reservation),
            }
            self.node_pools.append(
                gcp.container.NodePool(
                    f"{name}{suffix}-pool",
                    name=pool.node_pool_name(option),
                    project=cfg.gcp.project_id,
                    location=cfg.gcp.region,
                    cluster=args.cluster_name,
                    # Only zones that offer this GPU (catalog/gpu_availability.yaml).
                    node_locations=self.zones,
                    autoscaling=autoscaling,
                    # Flex-start pools run without auto-repair, as Google's cluster-toolkit
                    # gke-node-pool module requires (a repair would be a new capacity request).
                    management={"auto_repair": option != "flex-start", "auto_upgrade": True},
                    upgrade_settings={"max_surge": 1, "max_unavailable": 0},
                    node_config=gpu_node_config,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.register_outputs(
            {
                "names": [p.name for p in self.node_pools],
                "machine_type": self.machine_type,
                "zones": self.zones,
                "capacity": pool.capacity,
                "compute_class": pool.compute_class,
            }
        )
