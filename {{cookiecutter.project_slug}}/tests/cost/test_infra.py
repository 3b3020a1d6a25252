"""Per-resource monthly cost: each component's quantity x unit price, from the plan and usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cost import estimate
from cost.plan import load_plan
from cost.prices import Prices
from cost.usage import load_usage

# cost/gcp_service_prices_2026-10-16.csv
NAT_VM, NAT_IP, NAT_GIB = 0.0014, 0.005, 0.045
LB_RULE, LB_GIB = 0.025, 0.008
SAMPLES, LOG_GIB, GCS, AR, PD_SSD = 0.06, 0.50, 0.020, 0.10, 0.17
E2_4_1Y, E2_4_3Y = 61.63709156, 44.02649564  # cost/gcp_cpu_prices_2025-03-06.csv, us-central1


def plan() -> dict:
    pool = {
        "type": "gcp:container/nodePool:NodePool",
        "name": "sys",
        "inputs": {
            "cluster": "c",
            "location": "us-central1",
            "nodeLocations": ["us-central1-a"],
            "nodeConfig": {"machineType": "e2-standard-4", "diskSizeGb": 50, "diskType": "pd-ssd"},
            "autoscaling": {"totalMinNodeCount": 1, "totalMaxNodeCount": 40},
        },
    }
    return {
        "resources": [
            {
                "type": "gcp:container/cluster:Cluster",
                "name": "c",
                "inputs": {
                    "name": "c",
                    "location": "us-central1",
                    "monitoringConfig": {"managedPrometheus": {"enabled": True}},
                    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
                },
            },
            pool,
            {"type": "gcp:compute/routerNat:RouterNat", "name": "nat", "inputs": {}},
            {
                "type": "kubernetes:gateway.networking.k8s.io/v1:Gateway",
                "name": "gw",
                "inputs": {"spec": {"gatewayClassName": "gke-l7-rilb"}},
            },
            {
                "type": "kubernetes:monitoring.googleapis.com/v1:PodMonitoring",
                "name": "pm",
                "inputs": {"spec": {"endpoints": [{"interval": "30s"}]}},
            },
            {
                "type": "gcp:storage/bucket:Bucket",
                "name": "models",
                "inputs": {"labels": {"purpose": "models"}},
            },
            {
                "type": "gcp:storage/bucket:Bucket",
                "name": "other",
                "inputs": {"labels": {"purpose": "x"}},
            },
            {"type": "gcp:artifactregistry/repository:Repository", "name": "ar", "inputs": {}},
            {"type": "gcp:compute/firewall:Firewall", "name": "fw", "inputs": {}},
        ]
    }


@pytest.fixture
def priced(tmp_path: Path) -> dict:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan()))
    return estimate.price_plan(load_plan(path), Prices.load(), load_usage().infra)


def rows(priced: dict) -> dict:
    return {r["resource"]: r for r in priced["resources"]}


def test_node_pool_boot_disks_and_commitments(priced: dict) -> None:
    sys_pool = rows(priced)["sys"]
    disks = sys_pool["components"][1]
    assert (disks["quantity_min"], disks["quantity_max"]) == (50, 40 * 50)
    assert disks["monthly_max"] == pytest.approx(40 * 50 * PD_SSD)
    assert sys_pool["commitment_monthly_max"] == {
        "1y": pytest.approx(40 * E2_4_1Y + disks["monthly_max"]),
        "3y": pytest.approx(40 * E2_4_3Y + disks["monthly_max"]),
    }


def test_cluster_fee_prometheus_and_logging_at_the_stated_volume(priced: dict) -> None:
    usage = load_usage().infra
    fee, prometheus, logging = rows(priced)["c"]["components"]
    assert fee["monthly_max"] == pytest.approx(0.10 * 730)
    # Series x samples per month at the PodMonitoring's 30 s interval.
    samples = usage.prometheus_active_series * 730 * 3600 / 30 / 1e6
    assert prometheus["quantity_max"] == pytest.approx(samples)
    assert prometheus["monthly_max"] == pytest.approx(samples * SAMPLES)
    assert logging["monthly_max"] == pytest.approx(usage.logging_gib * LOG_GIB)


def test_nat_per_vm_up_to_the_cap_then_flat(priced: dict) -> None:
    usage = load_usage().infra
    gateway, ip, data = rows(priced)["nat"]["components"]
    assert gateway["monthly_min"] == pytest.approx(1 * NAT_VM * 730)
    assert gateway["monthly_max"] == pytest.approx(0.044 * 730)  # 40 VMs > 32
    assert ip["monthly_max"] == pytest.approx(NAT_IP * 730)
    assert data["monthly_max"] == pytest.approx(usage.nat_processed_gib * NAT_GIB)


def test_load_balancer_buckets_and_registry(priced: dict) -> None:
    usage = load_usage().infra
    by_name = rows(priced)
    assert by_name["gw"]["monthly_max"] == pytest.approx(
        LB_RULE * 730 + usage.load_balancer_processed_gib * LB_GIB
    )
    assert "proxy-instance" in by_name["gw"]["note"]
    assert by_name["models"]["monthly_max"] == pytest.approx(usage.bucket_gib["models"] * GCS)
    # A bucket the usage file does not size costs 0 and says how to fix that.
    assert by_name["other"]["monthly_max"] == 0 and "infra.bucket_gib.x" in by_name["other"]["note"]
    assert by_name["ar"]["monthly_max"] == pytest.approx(usage.artifact_registry_gib * AR)
    assert priced["no_direct_charge"] == {
        "gcp:compute/firewall:Firewall": 1,
        "kubernetes:monitoring.googleapis.com/v1:PodMonitoring": 1,
    }
    assert priced["monthly_max"] == pytest.approx(sum(r["monthly_max"] for r in by_name.values()))
