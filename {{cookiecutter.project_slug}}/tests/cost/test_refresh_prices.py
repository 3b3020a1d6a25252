"""Price refresh from the Cloud Billing Catalog: SKU arithmetic, and refusal without credentials."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.project import ROOT
from cost import refresh_prices as rp


def sku(description: str, usage: str, region: str, units: int, nanos: int) -> dict:
    return {
        "description": description,
        "category": {"usageType": usage},
        "serviceRegions": [region],
        "pricingInfo": [
            {
                "pricingExpression": {
                    "tieredRates": [{"unitPrice": {"units": str(units), "nanos": nanos}}]
                }
            }
        ],
    }


SKUS = [
    sku("G2 Instance Core running in Americas", "OnDemand", "us-central1", 0, 24_000_000),
    sku("G2 Instance Ram running in Americas", "OnDemand", "us-central1", 0, 3_000_000),
    sku("Nvidia L4 GPU running in Americas", "OnDemand", "us-central1", 0, 560_000_000),
    sku(
        "Spot Preemptible G2 Instance Core running in Americas",
        "Preemptible",
        "us-central1",
        0,
        10_000_000,
    ),
    sku(
        "Spot Preemptible G2 Instance Ram running in Americas",
        "Preemptible",
        "us-central1",
        0,
        1_000_000,
    ),
    sku(
        "Nvidia L4 GPU attached to Spot Preemptible VMs running in Americas",
        "Preemptible",
        "us-central1",
        0,
        200_000_000,
    ),
    sku("Commitment v1: G2 Cpu in Americas for 1 Year", "Commit1Yr", "us-central1", 0, 1),
]


def test_machine_price_is_the_sum_of_its_skus() -> None:
    index = rp.sku_index(SKUS)
    (row,) = rp.rows_for([("g2-standard-8", "us-central1")], index)
    # 8 vCPU x 0.024 + 32 GiB x 0.003 + 1 L4 x 0.56
    assert row["hour_ondemand"] == pytest.approx(0.848)
    assert row["hour_spot"] == pytest.approx(8 * 0.010 + 32 * 0.001 + 0.2)
    assert row["month_ondemand_730h"] == pytest.approx(0.848 * 730)


def test_missing_skus_skip_the_row() -> None:
    assert rp.rows_for([("g2-standard-8", "europe-west4")], rp.sku_index(SKUS)) == []


def test_without_credentials_it_fails_clearly() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GOOGLE_CLOUD_API_KEY", "GOOGLE_OAUTH_ACCESS_TOKEN")
    }
    env["PATH"] = os.path.dirname(sys.executable)  # no gcloud on the PATH
    done = subprocess.run(
        [sys.executable, "-m", "cost.refresh_prices"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no GCP credentials" in done.stderr
