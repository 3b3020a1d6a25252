"""$ per token, request and user: roofline arithmetic, the hardware rule, hosted API prices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.project import ROOT
from cost import tokens
from cost.prices import Prices
from cost.roofline import RooflineError, roofline
from cost.usage import ModelShape, load_usage
from infra.catalog import GpuHardware, load_catalog

L4 = GpuHardware(memory_gb=24, memory_bandwidth_gb_s=300, bf16_dense_tflops=121, source="test")
# 1B parameters in bf16 = 2 GB; KV 2 x 2 layers x 1 head x 64 x 2 bytes = 512 bytes per token.
SMALL = ModelShape(
    name="small",
    parameters_billion=1.0,
    dtype="bfloat16",
    kv_cache_dtype="bfloat16",
    layers=2,
    kv_heads=1,
    head_dim=64,
)
CPU = "this machine's CPU (x86_64, 2 cores; vLLM CPU build)"


def test_roofline_reads_weights_and_kv_cache_per_step() -> None:
    bound = roofline(
        L4, 1, SMALL, batch=8, input_tokens=100, output_tokens=100, memory_utilisation=0.9
    )
    # Context 100 + 100/2 = 150 tokens x 512 bytes per sequence; 8 sequences per step.
    step = 2e9 + 8 * 150 * 512
    assert bound.bytes_per_step == pytest.approx(step)
    assert bound.decode_tokens_per_s == pytest.approx(300e9 / step * 8)
    assert bound.prefill_tokens_per_s == pytest.approx(121e12 / 2e9)
    assert bound.batch == 8 and "max_num_seqs" in bound.batch_note
    assert any("no kernel" in a for a in bound.assumptions)
    # Two GPUs: twice the bandwidth and compute.
    two = roofline(L4, 2, SMALL, 8, 100, 100, 0.9)
    assert two.decode_tokens_per_s == pytest.approx(2 * 300e9 / step * 8)


def test_roofline_caps_the_batch_at_what_the_kv_cache_fits() -> None:
    big = SMALL.model_copy(
        update={"parameters_billion": 10.0, "layers": 40, "kv_heads": 8, "head_dim": 128}
    )
    # 20 GB weights; 21.6 GB usable; KV 163,840 bytes/token x 4,100 tokens = 0.67 GB each.
    bound = roofline(
        L4, 1, big, batch=64, input_tokens=4000, output_tokens=200, memory_utilisation=0.9
    )
    assert bound.batch == 2 and "does not fit" in bound.batch_note
    with pytest.raises(RooflineError, match="do not fit"):
        roofline(L4, 1, big.model_copy(update={"parameters_billion": 12.0}), 64, 10, 10, 0.9)


@pytest.mark.parametrize(
    ("measured_on", "gpus", "matches", "why"),
    [
        ("1x nvidia-l4 (g2-standard-8)", 1, True, "measured on"),
        ("nvidia-l4", 1, True, "measured on"),
        ("2x nvidia-l4 (g2-standard-24)", 1, False, "2x nvidia-l4, the pool has 1"),
        (CPU, 1, False, "a CPU, not nvidia-l4"),
        (
            "remote endpoint gke.example (hardware not stated: pass HARDWARE=...)",
            1,
            False,
            "unknown",
        ),
        ("1x nvidia-l4x", 1, False, "does not name"),
    ],
)
def test_hardware_must_name_the_pools_gpu(measured_on, gpus, matches, why) -> None:
    ok, reason = tokens.hardware_match(measured_on, "nvidia-l4", gpus)
    assert ok is matches and why in reason


def pools() -> dict:
    gpu = {
        "name": "svc-serving",
        "kind": "gpu",
        "machine_type": "g2-standard-8",
        "gpu_type": "nvidia-l4",
        "gpus_per_node": 1,
        "spot": True,
        "node_hourly": 0.479872,
        "monthly_min": 0.0,
    }
    system = {"name": "svc-system", "kind": "system", "monthly_min": 73.0 + 10.0}
    return {"pools": [gpu, system], "cluster_fee_hourly": 0.10}


def cost(load: dict | None) -> dict:
    return tokens.token_cost(
        pools(),
        load,
        load_usage(),
        Prices.load(),
        load_catalog(),
        batch=64,
        gpu_memory_utilization=0.9,
    )


def load(measured_on: str, goodput: float = 400.0) -> dict:
    return {
        "goodput": {"output_tokens_per_s": goodput},
        "load": {"users": 8},
        "measured_on": measured_on,
    }


def test_cpu_measurement_shows_the_roofline_and_hides_the_measured_figure() -> None:
    result = cost(load(CPU))
    (row,) = result["pools"]
    assert row["measured"] is None and "a CPU, not nvidia-l4" in row["measured_hidden"]
    assert row["usd_per_million_output_tokens"] is None  # never the CPU's throughput
    usage = load_usage()
    bound = row["roofline"]
    u = usage.utilisation
    assert bound["usd_per_million_output_tokens"] == pytest.approx(
        0.479872 / (bound["decode_tokens_per_s"] * 3600 * u) * 1e6
    )
    assert bound["usd_per_million_input_tokens"] == pytest.approx(
        0.479872 / (bound["prefill_tokens_per_s"] * 3600 * u) * 1e6
    )
    users = usage.users
    request = (
        users.input_tokens_per_request * bound["usd_per_million_input_tokens"]
        + users.output_tokens_per_request * bound["usd_per_million_output_tokens"]
    ) / 1e6
    assert bound["usd_per_request"] == pytest.approx(request)
    assert bound["usd_per_user_month"] == pytest.approx(
        request * users.requests_per_user_per_day * users.days_per_month
    )
    assert result["measured_on_cpu"] and not result["warnings"]


def test_matching_hardware_shows_the_measured_figure() -> None:
    (row,) = cost(load("1x nvidia-l4 (g2-standard-8)", goodput=400.0))["pools"]
    u = load_usage().utilisation
    blended = 0.479872 / (400.0 * 3600 * u) * 1e6
    assert row["measured"]["usd_per_million_output_tokens"] == pytest.approx(blended)
    assert row["usd_per_million_output_tokens"] == pytest.approx(blended)
    overhead = 0.10 + 83.0 / 730
    assert row["usd_per_million_output_tokens_all_in"] == pytest.approx(
        (0.479872 + overhead) / (400.0 * 3600 * u) * 1e6
    )
    assert row["roofline"]["usd_per_million_output_tokens"] < blended  # the bound is below


def test_unknown_remote_endpoint_warns_and_prices_nothing_measured() -> None:
    result = cost(load("remote endpoint 10.0.0.7 (hardware not stated: pass HARDWARE=...)"))
    (row,) = result["pools"]
    assert row["measured"] is None and row["usd_per_million_output_tokens"] is None
    (warning,) = result["warnings"]
    assert warning.startswith("WARNING") and "HARDWARE=" in warning


def test_missing_load_summary_still_gives_the_bound() -> None:
    (row,) = cost(None)["pools"]
    assert row["measured_hidden"] == "no load summary"
    assert row["roofline"]["usd_per_million_output_tokens"] > 0


def test_hosted_api_prices_the_same_usage() -> None:
    result = cost(None)
    flash = next(a for a in result["hosted_api"] if a["model"] == "gemini-2.5-flash")
    users = load_usage().users
    request = (users.input_tokens_per_request * 0.30 + users.output_tokens_per_request * 2.50) / 1e6
    assert flash["usd_per_request"] == pytest.approx(request)
    assert result["hosted_api_table"]["date"] == "2026-06-20"


def test_catalog_gpus_have_datasheet_hardware() -> None:
    for gpu, entry in load_catalog().gpus.items():
        assert entry.hardware is not None, gpu
        assert entry.hardware.source.startswith("https://www.nvidia.com/"), gpu


def run_cost(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    plan = {
        "resources": [
            {
                "type": "gcp:container/cluster:Cluster",
                "name": "c",
                "inputs": {"name": "c", "location": "us-central1"},
            },
            {
                "type": "gcp:container/nodePool:NodePool",
                "name": "gpu",
                "inputs": {
                    "cluster": "c",
                    "location": "us-central1",
                    "nodeLocations": ["us-central1-a"],
                    "nodeConfig": {
                        "machineType": "g2-standard-8",
                        "spot": True,
                        "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
                    },
                    "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 1},
                },
            },
        ]
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cost.run",
            "--plan",
            str(tmp_path / "plan.json"),
            "--out",
            str(tmp_path / "out"),
            *args,
        ],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_cli_hardware_mismatch_report_shows_roofline_not_measured(tmp_path: Path) -> None:
    (tmp_path / "load.json").write_text(json.dumps(load(CPU)))
    done = run_cost(tmp_path, "--load", str(tmp_path / "load.json"))
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "roofline, upper bound on throughput" in report
    assert "measured: not shown (measured on this machine's CPU" in report
    assert "Assumptions:" in report and "max_num_seqs" in report


def test_cli_unknown_remote_endpoint_prints_a_warning(tmp_path: Path) -> None:
    (tmp_path / "load.json").write_text(
        json.dumps(load("remote endpoint x (hardware not stated: pass HARDWARE=...)"))
    )
    done = run_cost(tmp_path, "--load", str(tmp_path / "load.json"))
    assert done.returncode == 0 and "WARNING" in done.stderr
    assert "WARNING" in (tmp_path / "out" / "report.md").read_text()


def test_cli_bad_usage_file_names_the_field(tmp_path: Path) -> None:
    usage = (
        (ROOT / "cost" / "usage.yaml").read_text().replace("utilisation: 0.5", "utilisation: 1.5")
    )
    (tmp_path / "usage.yaml").write_text(usage)
    done = run_cost(tmp_path, "--usage", str(tmp_path / "usage.yaml"))
    assert (
        done.returncode == 2
        and "utilisation" in done.stderr
        and "less than or equal to 1" in done.stderr
    )
    assert not (tmp_path / "out").exists()
