"""`make cost-refresh-prices`: rebuild the price tables from the Cloud Billing Catalog API.

Needs credentials: an API key in GOOGLE_CLOUD_API_KEY, or an OAuth access token in
GOOGLE_OAUTH_ACCESS_TOKEN, or a logged-in `gcloud` (`gcloud auth print-access-token`).
Writes new dated tables beside the old ones (the newest date wins):
catalog/gcp_gpu_prices_<today>.csv and cost/gcp_cpu_prices_<today>.csv, for the machine types
and regions the current tables list. A machine's price is the sum of its parts' SKUs (vCPU,
RAM, GPUs, bundled local SSD), as Google bills it. Committed-use columns are left empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.evidence import write_atomic
from cost.prices import CPU_TABLE, HOURS_PER_MONTH
from policies.pricing import default_price_file

COMPUTE_SERVICE = "services/6F81-5844-456A"  # Compute Engine in the billing catalog
API = "https://cloudbilling.googleapis.com/v1"
COLUMNS = [
    "machine",
    "gpu_type",
    "gpu_count",
    "region",
    "hour_ondemand",
    "hour_spot",
    "month_ondemand_730h",
    "month_1y_cud",
    "month_3y_cud",
    "month_spot",
]
# GPU type (price-table key) -> how the billing catalog names that GPU's SKU.
GPU_SKUS = {
    "l4": "Nvidia L4 GPU",
    "a100": "Nvidia Tesla A100 GPU",
    "a100-80gb": "Nvidia Tesla A100 80GB GPU",
    "h100-80gb": "Nvidia H100 80GB GPU",
    "h100-mega-80gb": "Nvidia H100 80GB Mega GPU",
}


@dataclass(frozen=True)
class Shape:
    family: str  # the SKU prefix, e.g. "G2" in "G2 Instance Core running in Americas"
    vcpus: int
    ram_gib: float
    gpu_type: str = "none"
    gpus: int = 0
    local_ssd_gib: int = 0


def _g2(vcpus: int, gpus: int) -> Shape:
    return Shape("G2", vcpus, vcpus * 4, "l4", gpus)


# Machine shapes (Google Cloud docs, accelerator-optimized and general-purpose machine families).
SHAPES: dict[str, Shape] = {
    "e2-standard-4": Shape("E2", 4, 16),
    "e2-standard-8": Shape("E2", 8, 32),
    "g2-standard-4": _g2(4, 1),
    "g2-standard-8": _g2(8, 1),
    "g2-standard-12": _g2(12, 1),
    "g2-standard-16": _g2(16, 1),
    "g2-standard-24": _g2(24, 2),
    "g2-standard-32": _g2(32, 1),
    "g2-standard-48": _g2(48, 4),
    "g2-standard-96": _g2(96, 8),
    "a2-highgpu-1g": Shape("A2", 12, 85, "a100", 1),
    "a2-highgpu-2g": Shape("A2", 24, 170, "a100", 2),
    "a2-highgpu-4g": Shape("A2", 48, 340, "a100", 4),
    "a2-highgpu-8g": Shape("A2", 96, 680, "a100", 8),
    "a2-megagpu-16g": Shape("A2", 96, 1360, "a100", 16),
    "a2-ultragpu-1g": Shape("A2", 12, 170, "a100-80gb", 1, 375),
    "a2-ultragpu-2g": Shape("A2", 24, 340, "a100-80gb", 2, 750),
    "a2-ultragpu-4g": Shape("A2", 48, 680, "a100-80gb", 4, 1500),
    "a2-ultragpu-8g": Shape("A2", 96, 1360, "a100-80gb", 8, 3000),
    "a3-highgpu-1g": Shape("A3", 26, 234, "h100-80gb", 1, 750),
    "a3-highgpu-2g": Shape("A3", 52, 468, "h100-80gb", 2, 1500),
    "a3-highgpu-4g": Shape("A3", 104, 936, "h100-80gb", 4, 3000),
    "a3-highgpu-8g": Shape("A3", 208, 1872, "h100-80gb", 8, 6000),
    "a3-megagpu-8g": Shape("A3", 208, 1872, "h100-mega-80gb", 8, 6000),
}


class CredentialsError(RuntimeError):
    """No way to call the Cloud Billing Catalog API."""


def credentials() -> dict[str, str]:
    """Query parameters or headers that authenticate a catalog request."""
    if os.environ.get("GOOGLE_CLOUD_API_KEY"):
        return {"key": os.environ["GOOGLE_CLOUD_API_KEY"]}
    token = os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if not token and shutil.which("gcloud"):
        result = subprocess.run(
            ["gcloud", "auth", "print-access-token"], capture_output=True, text=True, check=False
        )
        token = result.stdout.strip() if result.returncode == 0 else None
    if not token:
        raise CredentialsError(
            "no GCP credentials: set GOOGLE_CLOUD_API_KEY (an API key with the Cloud Billing "
            "API enabled) or GOOGLE_OAUTH_ACCESS_TOKEN, or run `gcloud auth login`; the "
            "committed tables stay as they are"
        )
    return {"bearer": token}


def fetch_skus(auth: dict[str, str]) -> list[dict[str, Any]]:
    skus, page = [], ""
    while True:
        query = {"currencyCode": "USD", "pageSize": "5000", "pageToken": page}
        if "key" in auth:
            query["key"] = auth["key"]
        request = urllib.request.Request(
            f"{API}/{COMPUTE_SERVICE}/skus?{urllib.parse.urlencode(query)}"
        )
        if "bearer" in auth:
            request.add_header("Authorization", f"Bearer {auth['bearer']}")
        with urllib.request.urlopen(request, timeout=60) as response:
            document = json.load(response)
        skus.extend(document.get("skus", []))
        page = document.get("nextPageToken", "")
        if not page:
            return skus


def unit_price(sku: dict[str, Any]) -> float:
    """The SKU's price per usage unit (first tier above zero usage)."""
    rates = sku["pricingInfo"][0]["pricingExpression"]["tieredRates"]
    money = rates[-1]["unitPrice"]
    return int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9


def sku_index(skus: list[dict[str, Any]]) -> dict[tuple[str, str, bool], float]:
    """(component, region, spot) -> hourly price per unit (vCPU, GiB of RAM, GPU, GiB of SSD)."""
    patterns = {f"{fam}:core": rf"{fam} Instance Core" for fam in ("E2", "G2", "A2", "A3")}
    patterns |= {f"{fam}:ram": rf"{fam} Instance Ram" for fam in ("E2", "G2", "A2", "A3")}
    patterns |= {f"gpu:{key}": re.escape(name) for key, name in GPU_SKUS.items()}
    patterns["ssd"] = r"SSD backed Local Storage"
    index: dict[tuple[str, str, bool], float] = {}
    for sku in skus:
        usage = sku.get("category", {}).get("usageType")
        if usage not in ("OnDemand", "Preemptible"):
            continue
        description = sku.get("description", "")
        spot = usage == "Preemptible"
        bare = re.sub(r"^(Spot Preemptible |Preemptible )", "", description)
        for component, pattern in patterns.items():
            if re.match(pattern + r"( running| attached| in|$)", bare):
                price = unit_price(sku)
                if component == "ssd":  # billed per GiB-month
                    price /= HOURS_PER_MONTH
                for region in sku.get("serviceRegions", []):
                    index[(component, region, spot)] = price
    return index


def machine_hourly(shape: Shape, region: str, spot: bool, index: dict) -> float | None:
    parts = [(f"{shape.family}:core", shape.vcpus), (f"{shape.family}:ram", shape.ram_gib)]
    if shape.gpus:
        parts.append((f"gpu:{shape.gpu_type}", shape.gpus))
    if shape.local_ssd_gib:
        parts.append(("ssd", shape.local_ssd_gib))
    total = 0.0
    for component, amount in parts:
        price = index.get((component, region, spot))
        if price is None:
            return None
        total += price * amount
    return total


def rows_for(machines_regions: list[tuple[str, str]], index: dict) -> list[dict[str, Any]]:
    rows = []
    for machine, region in machines_regions:
        shape = SHAPES.get(machine)
        if shape is None:
            print(f"WARNING: no shape for {machine}; add it to SHAPES", file=sys.stderr)
            continue
        on_demand = machine_hourly(shape, region, False, index)
        spot = machine_hourly(shape, region, True, index)
        if on_demand is None or spot is None:
            print(f"WARNING: the catalog has no price for {machine} in {region}", file=sys.stderr)
            continue
        rows.append(
            {
                "machine": machine,
                "gpu_type": shape.gpu_type,
                "gpu_count": shape.gpus,
                "region": region,
                "hour_ondemand": round(on_demand, 9),
                "hour_spot": round(spot, 9),
                "month_ondemand_730h": round(on_demand * HOURS_PER_MONTH, 8),
                "month_1y_cud": "",
                "month_3y_cud": "",
                "month_spot": round(spot * HOURS_PER_MONTH, 8),
            }
        )
    return rows


def _keys(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as handle:
        return [(row["machine"], row["region"]) for row in csv.DictReader(handle)]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    lines = [",".join(COLUMNS)] + [",".join(str(r[c]) for c in COLUMNS) for r in rows]
    write_atomic(path, "\n".join(lines) + "\n")


def main() -> int:
    try:
        auth = credentials()
    except CredentialsError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    index = sku_index(fetch_skus(auth))
    today = dt.date.today().isoformat()
    for old in (default_price_file(), CPU_TABLE):
        rows = rows_for(_keys(old), index)
        if not rows:
            print(f"ERROR: no prices found for the machines of {old}", file=sys.stderr)
            return 1
        new = old.with_name(re.sub(r"\d{4}-\d{2}-\d{2}", today, old.name))
        _write(new, rows)
        print(f"wrote {new} ({len(rows)} rows); review the diff against {old.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
