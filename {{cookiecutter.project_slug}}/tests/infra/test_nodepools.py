"""gpu node pools: accelerator + driver, GPU taint, autoscaling from zero, zones with the GPU."""

import pytest
from infra_helpers import STACKS, run_recorded

from infra.catalog import load_catalog
from infra.config import load_stack_config
from infra.nodepools import GpuNodePool, GpuNodePoolArgs


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_pool(stack):
    cfg = load_stack_config(stack)
    pool = cfg.gpu_pools[0]
    rec = run_recorded(
        cfg,
        lambda: GpuNodePool(
            cfg, pool, GpuNodePoolArgs(cluster_name="c", nodes_service_account="sa")
        ),
    )
    component = rec[f"{cfg.prefix}-gpu-{pool.name}"]
    assert component.type == "llmops:gpu:GpuNodePool"
    node_pool = rec[f"{cfg.prefix}-gpu-{pool.name}-pool"]
    assert node_pool.parent_urn == component.urn
    inputs = node_pool.inputs
    catalog = load_catalog()
    node = inputs["nodeConfig"]
    assert node["machineType"] == catalog.machine_type(pool.gpu_type, pool.gpus_per_node)
    accelerator = node["guestAccelerators"][0]
    assert accelerator == {
        "type": pool.gpu_type,
        "count": pool.gpus_per_node,
        "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
    }
    assert node["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    ]
    assert node["spot"] is pool.spot
    assert set(inputs["nodeLocations"]) <= set(catalog.zones(pool.gpu_type, cfg.gcp.region))
    assert inputs["autoscaling"]["totalMinNodeCount"] == pool.min_nodes
    assert inputs["autoscaling"]["totalMaxNodeCount"] == pool.max_nodes
    for label in ("team", "cost-center", "environment"):
        assert node["resourceLabels"][label]
    assert inputs["cluster"] == "c" and node["serviceAccount"] == "sa"


def test_explicit_zone_subset_is_used(dev):
    values_pool = dev.gpu_pools[0].model_copy(
        update={"zones": [dev.pool_zones(dev.gpu_pools[0])[0]]}
    )
    rec = run_recorded(
        dev,
        lambda: GpuNodePool(
            dev, values_pool, GpuNodePoolArgs(cluster_name="c", nodes_service_account="sa")
        ),
    )
    assert rec[f"{dev.prefix}-gpu-serving-pool"].inputs["nodeLocations"] == values_pool.zones
