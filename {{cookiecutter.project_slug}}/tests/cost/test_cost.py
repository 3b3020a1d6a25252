"""Cost report: plan and preview parsing, arithmetic against known price rows, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.project import ROOT
from cost import estimate
from cost.plan import UNKNOWN, PlanError, load_plan
from cost.prices import Prices, UnknownPriceError
from cost.usage import load_usage

# Known rows of the price tables (checked by hand against the CSV files).
G2_8_US_CENTRAL1_SPOT = 0.479872  # catalog/gcp_gpu_prices_2026-07-30.csv
G2_8_US_CENTRAL1_ONDEMAND = 0.853624271
E2_4_US_CENTRAL1_ONDEMAND = 0.13402284  # cost/gcp_cpu_prices_2025-03-06.csv


def cluster(location: str = "us-central1") -> dict:
    return {
        "type": "gcp:container/cluster:Cluster",
        "name": "svc-gke",
        "parent": "p",
        "inputs": {"name": "svc-gke", "location": location},
    }


def pool(
    name: str,
    machine: str,
    *,
    spot: bool = False,
    autoscaling: dict | None = None,
    zones: list[str] | None = None,
    gpu: bool = False,
    **extra,
) -> dict:
    config = {"machineType": machine, "spot": spot}
    if gpu:
        config["guestAccelerators"] = [{"type": "nvidia-l4", "count": 1}]
    inputs = {
        "cluster": "svc-gke",
        "location": "us-central1",
        "nodeConfig": config,
        "nodeLocations": zones if zones is not None else ["us-central1-a"],
        **extra,
    }
    if autoscaling is not None:
        inputs["autoscaling"] = autoscaling
    return {
        "type": "gcp:container/nodePool:NodePool",
        "name": name,
        "parent": "p",
        "inputs": inputs,
    }


def dev_plan() -> dict:
    return {
        "resources": [
            cluster(),
            pool("svc-system", "e2-standard-4", autoscaling={"minNodeCount": 1, "maxNodeCount": 2}),
            pool(
                "svc-serving",
                "g2-standard-8",
                spot=True,
                gpu=True,
                zones=["us-central1-a", "us-central1-b"],
                autoscaling={"totalMinNodeCount": 0, "totalMaxNodeCount": 2},
            ),
        ]
    }


def write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def prices() -> Prices:
    return Prices.load()


# No variable usage: only what the plan itself costs.
NO_USAGE = load_usage().infra.model_copy(
    update={
        "nat_processed_gib": 0,
        "load_balancer_processed_gib": 0,
        "prometheus_active_series": 0,
        "logging_gib": 0,
        "artifact_registry_gib": 0,
        "bucket_gib": {},
    }
)
DISK_GIB_MONTH = 0.10  # pd-balanced, cost/gcp_service_prices_2026-10-16.csv
DEFAULT_DISK = 100 * DISK_GIB_MONTH  # GKE's default boot disk per node and month


def price(tmp_path: Path, prices: Prices, document: dict, name: str = "p.json") -> dict:
    return estimate.price_plan(load_plan(write(tmp_path, name, document)), prices, NO_USAGE)


def test_known_rows_of_the_price_tables(prices: Prices) -> None:
    gpu, table = prices.price("g2-standard-8", "us-central1")
    assert gpu.hourly(spot=True) == G2_8_US_CENTRAL1_SPOT
    assert gpu.hourly(spot=False) == G2_8_US_CENTRAL1_ONDEMAND
    assert table.date == "2026-07-30"
    system, cpu_table = prices.price("e2-standard-4", "us-central1")
    assert system.hourly(spot=False) == E2_4_US_CENTRAL1_ONDEMAND
    assert cpu_table.date == "2025-03-06"


def test_plan_priced_at_min_and_max_nodes(tmp_path: Path, prices: Prices) -> None:
    priced = price(tmp_path, prices, dev_plan())
    system, serving = priced["pools"]
    assert (system["min_nodes"], system["max_nodes"]) == (1, 2)
    assert (serving["min_nodes"], serving["max_nodes"]) == (0, 2)
    assert serving["node_hourly"] == G2_8_US_CENTRAL1_SPOT and serving["kind"] == "gpu"
    assert priced["cluster_fee_hourly"] == 0.10
    # Machines, their boot disks (GKE's default 100 GB) and the cluster fee.
    assert priced["monthly_min"] == pytest.approx(
        (0.10 + E2_4_US_CENTRAL1_ONDEMAND) * 730 + DEFAULT_DISK
    )
    assert priced["monthly_max"] == pytest.approx(
        (0.10 + 2 * E2_4_US_CENTRAL1_ONDEMAND + 2 * G2_8_US_CENTRAL1_SPOT) * 730 + 4 * DEFAULT_DISK
    )
    assert priced["hourly_max"] == pytest.approx(priced["monthly_max"] / 730)


def test_per_zone_counts_multiply_by_zones(tmp_path: Path) -> None:
    plan = {
        "resources": [
            cluster(),
            pool(
                "p",
                "e2-standard-4",
                zones=["us-central1-a", "us-central1-b", "us-central1-c"],
                autoscaling={"minNodeCount": 1, "maxNodeCount": 3},
            ),
        ]
    }
    (p,) = load_plan(write(tmp_path, "p.json", plan)).pools
    assert (p.min_nodes, p.max_nodes, p.zones) == (3, 9, 3)
    fixed = {"resources": [cluster(), pool("f", "e2-standard-4", zones=[], nodeCount=2)]}
    (f,) = load_plan(write(tmp_path, "f.json", fixed)).pools
    assert (f.min_nodes, f.max_nodes) == (6, 6)  # regional pool: GKE's three default zones


def test_pulumi_preview_json_is_read(tmp_path: Path) -> None:
    steps = [
        {
            "op": "create",
            "urn": f"urn:pulumi:dev::svc::{r['type']}::{r['name']}",
            "newState": {
                "type": r["type"],
                "urn": f"urn:pulumi:dev::svc::x::{r['name']}",
                "inputs": r["inputs"],
                "parent": "p",
            },
        }
        for r in dev_plan()["resources"]
    ]
    steps.append(
        {
            "op": "delete",
            "urn": "urn:pulumi:dev::svc::x::old-pool",
            "oldState": pool("old-pool", "a3-highgpu-8g"),
        }
    )
    plan = load_plan(write(tmp_path, "preview.json", {"steps": steps, "changeSummary": {}}))
    assert plan.format == "pulumi-preview"
    assert [p.name for p in plan.pools] == ["svc-system", "svc-serving"]


def test_diff_against_a_base_plan(tmp_path: Path, prices: Prices) -> None:
    head_doc = dev_plan()
    head_doc["resources"][2]["inputs"]["autoscaling"]["totalMaxNodeCount"] = 4
    head_doc["resources"][2]["inputs"]["nodeConfig"]["diskSizeGb"] = 200
    head = price(tmp_path, prices, head_doc, "head.json")
    base = price(tmp_path, prices, dev_plan(), "base.json")
    change = estimate.diff(head, base)
    (pool_change,) = change["resources"]
    assert pool_change["resource"] == "svc-serving" and pool_change["change"] == "changed"
    assert pool_change["fields"] == {
        "max_nodes": {"base": 2, "head": 4},
        "disk_gb": {"base": 100, "head": 200},
    }
    # Two more spot nodes, and four nodes' disks 100 GB larger (plus two new disks of 200 GB).
    delta = 2 * G2_8_US_CENTRAL1_SPOT * 730 + (4 * 200 - 2 * 100) * DISK_GIB_MONTH
    assert change["monthly_max_delta"] == pytest.approx(delta)
    assert pool_change["monthly_max_delta"] == pytest.approx(delta)
    assert change["monthly_min_delta"] == 0


def test_diff_names_added_and_removed_resources(tmp_path: Path, prices: Prices) -> None:
    head_doc = dev_plan()
    head_doc["resources"].append(
        {"type": "gcp:storage/bucket:Bucket", "name": "svc-data", "inputs": {"labels": {}}}
    )
    del head_doc["resources"][1]  # the system pool
    change = estimate.diff(
        price(tmp_path, prices, head_doc, "h.json"), price(tmp_path, prices, dev_plan())
    )
    kinds = {r["resource"]: r["change"] for r in change["resources"]}
    assert kinds == {"svc-data": "added", "svc-system": "removed"}


def test_unknown_machine_type_and_region_are_refused(tmp_path: Path, prices: Prices) -> None:
    with pytest.raises(UnknownPriceError, match="unknown machine type 'n9-mega-1'"):
        prices.price("n9-mega-1", "us-central1")
    with pytest.raises(UnknownPriceError, match="region 'mars-north1'"):
        prices.price("g2-standard-8", "mars-north1")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"something": []}, "neither an offline plan"),
        (
            {"resources": [{"type": "gcp:storage/bucket:Bucket", "name": "b", "inputs": {}}]},
            "nothing to price",
        ),
        ({"resources": [cluster("mars")]}, "neither a GCP region nor a zone"),
        ({"resources": [cluster(), pool("p", UNKNOWN)]}, "not known until apply"),
        ({"resources": [cluster(), pool("p", "")]}, "no nodeConfig.machineType"),
    ],
)
def test_unusable_plans_are_refused(tmp_path: Path, document: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        load_plan(write(tmp_path, "bad.json", document))


def run_cost(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cost.run", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_cli_writes_summary_and_report(tmp_path: Path) -> None:
    plan = write(tmp_path, "dev.json", dev_plan())
    load = write(
        tmp_path,
        "load.json",
        {
            "goodput": {"output_tokens_per_s": 250.0},
            "load": {"users": 4},
            "measured_on": "1x nvidia-l4",
        },
    )
    out = tmp_path / "cost"
    done = run_cost(
        "--plan", str(plan), "--load", str(load), "--base-plan", str(plan), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stamp"]["price_tables"][0]["date"] == "2026-07-30"
    utilisation = load_usage().utilisation
    # HARDWARE named the pool's GPU: the measured figure is shown.
    assert summary["tokens"]["pools"][0]["usd_per_million_output_tokens"] == pytest.approx(
        G2_8_US_CENTRAL1_SPOT / (250 * 3600 * utilisation) * 1e6
    )
    report = (out / "report.md").read_text()
    assert "2026-07-30" in report and "per month" in report
    assert "no priced resource changed" in report and "hosted_api_prices_" in report


def test_cli_refuses_a_plan_that_is_not_json(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("Previewing update (dev):\n  + gcp:container/nodePool ...")
    out = tmp_path / "cost"
    done = run_cost("--plan", str(plan), "--out", str(out))
    assert done.returncode == 2 and "is not JSON" in done.stderr
    assert not out.exists()  # nothing half-written


def test_cli_refuses_an_unknown_machine_type(tmp_path: Path) -> None:
    document = dev_plan()
    document["resources"][2]["inputs"]["nodeConfig"]["machineType"] = "g9-imaginary-8"
    out = tmp_path / "cost"
    done = run_cost("--plan", str(write(tmp_path, "p.json", document)), "--out", str(out))
    assert done.returncode == 2 and "unknown machine type 'g9-imaginary-8'" in done.stderr
    assert not out.exists()


def test_cli_refuses_a_missing_plan_and_an_explicit_missing_load(tmp_path: Path) -> None:
    done = run_cost("--plan", str(tmp_path / "nope.json"), "--out", str(tmp_path / "c"))
    assert done.returncode == 2 and "run `make plan" in done.stderr
    plan = write(tmp_path, "dev.json", dev_plan())
    done = run_cost(
        "--plan", str(plan), "--load", str(tmp_path / "x.json"), "--out", str(tmp_path / "c")
    )
    assert done.returncode == 2 and "load summary not found" in done.stderr
