"""gpu node pools: accelerator + driver, GPU taint, autoscaling from zero, zones with the GPU."""

import pytest
from infra_helpers import STACKS, run_recorded

from infra.catalog import load_catalog
from infra.config import load_stack_config
from infra.nodepools import GpuNodePool, GpuNodePoolArgs, compute_class


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
    assert node["spot"] is (pool.capacity == ["spot"])
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


def chained(cfg, capacity, **changes):
    return cfg.gpu_pools[0].model_copy(
        update={"capacity": capacity, "reservation": "h100-res", "min_nodes": 0, **changes}
    )


def test_a_capacity_chain_is_a_node_pool_per_option_and_a_compute_class(dev):
    chain = ["reservation", "on-demand", "spot", "flex-start"]
    pool = chained(dev, chain)
    rec = run_recorded(dev, lambda: GpuNodePool(dev, pool, GpuNodePoolArgs("c", "s")))
    pools = {
        r.inputs["name"]: r.inputs
        for r in rec.values()
        if r.type == "gcp:container/nodePool:NodePool"
    }
    names = [f"gpu-{pool.name}-{s}" for s in ("res", "od", "spot", "flex")]
    assert sorted(pools) == sorted(names)
    klass = f"gpu-{pool.name}"
    for inputs in pools.values():
        node = inputs["nodeConfig"]
        assert node["labels"]["cloud.google.com/compute-class"] == klass
        assert {
            "key": "cloud.google.com/compute-class",
            "value": klass,
            "effect": "NO_SCHEDULE",
        } in node["taints"]
    res, od, spot, flex = (pools[n] for n in names)
    assert res["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["h100-res"],
    }
    assert "reservationAffinity" not in od["nodeConfig"] and od["nodeConfig"]["spot"] is False
    assert spot["nodeConfig"]["spot"] is True
    assert spot["autoscaling"]["locationPolicy"] == "ANY"
    assert flex["nodeConfig"]["flexStart"] is True and flex["nodeConfig"]["spot"] is False
    assert flex["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert flex["management"]["autoRepair"] is False and od["management"]["autoRepair"] is True
    # The class falls back in the chain's order, one pool per priority (a `nodepools` rule
    # may carry no other field), and never creates pools of its own.
    spec = compute_class(pool)["spec"]
    assert spec["priorities"] == [{"nodepools": [n]} for n in names]
    assert spec["nodePoolAutoCreation"] == {"enabled": False}
    assert spec["whenUnsatisfiable"] == "DoNotScaleUp"


def test_a_single_option_keeps_its_pool_name_and_needs_no_class(dev):
    rec = run_recorded(
        dev,
        lambda: GpuNodePool(dev, chained(dev, ["flex-start"]), GpuNodePoolArgs("c", "s")),
    )
    (only,) = [r for r in rec.values() if r.type == "gcp:container/nodePool:NodePool"]
    assert only.inputs["name"] == f"gpu-{dev.gpu_pools[0].name}"
    assert "cloud.google.com/compute-class" not in only.inputs["nodeConfig"]["labels"]
    assert only.inputs["nodeConfig"]["flexStart"] is True
