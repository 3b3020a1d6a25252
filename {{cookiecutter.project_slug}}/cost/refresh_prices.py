"""`make cost-refresh-prices`: rebuild the price tables from the Cloud Billing Catalog API.

Needs credentials: an API key in GOOGLE_CLOUD_API_KEY, or an OAuth access token in
GOOGLE_OAUTH_ACCESS_TOKEN, or a logged-in `gcloud` (`gcloud auth print-access-token`).
Writes new dated tables beside the old ones (the newest date wins):
catalog/gcp_gpu_prices_<today>.csv and cost/gcp_cpu_prices_<today>.csv, for the machine types
and regions the current tables list, plus every node-pool machine type x region of the GPU
catalog (catalog/gpu_availability.yaml) the GPU table lacks. Machine shapes and GPU SKU names
come from that catalog too. A machine's price is the sum of its parts' SKUs (vCPU,
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
from infra.catalog import GpuCatalog, load_catalog
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


@dataclass(frozen=True)
class Shape:
    family: str  # the SKU prefix, e.g. "G2" in "G2 Instance Core running in Americas"
    vcpus: int
    ram_gib: float
    gpu_type: str = "none"
    gpus: int = 0
    local_ssd_gib: int = 0


def sku_family(machine: str) -> str:
    """The billing catalog's prefix for a machine family: g2-standard-8 -> G2, a3-... -> A3."""
    return machine.split("-", 1)[0].upper()


# Machines the price tables list that the GPU catalog does not describe: the general-purpose
# shapes of GKE system pools (cost/gcp_cpu_prices_<date>.csv) and GPU shapes no catalog entry
# offers as a node pool. Every GPU type a node pool may use is described in
# catalog/gpu_availability.yaml (`shapes`, `billing_sku`), never here.
OTHER_SHAPES: dict[str, Shape] = {
    "e2-standard-4": Shape("E2", 4, 16),
    "e2-standard-8": Shape("E2", 8, 32),
    "a3-megagpu-8g": Shape("A3", 208, 1872, "h100-80gb-mega", 8, 6000),
}
OTHER_GPU_SKUS = {"h100-80gb-mega": "Nvidia H100 80GB Mega GPU"}


def shapes(catalog: GpuCatalog | None = None) -> dict[str, Shape]:
    """Machine type -> its billed parts: the GPU catalog's shapes plus OTHER_SHAPES."""
    catalog = catalog or load_catalog()
    described = {
        machine: Shape(sku_family(machine), s.vcpus, s.ram_gib, price_key, s.gpus, s.local_ssd_gib)
        for machine, (price_key, s) in catalog.shapes().items()
    }
    return OTHER_SHAPES | described


def gpu_skus(catalog: GpuCatalog | None = None) -> dict[str, str]:
    """GPU type (price-table key) -> how the billing catalog names that GPU's SKU."""
    catalog = catalog or load_catalog()
    return OTHER_GPU_SKUS | {e.price_key: e.billing_sku for e in catalog.gpus.values()}


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


def sku_index(
    skus: list[dict[str, Any]], catalog: GpuCatalog | None = None
) -> dict[tuple[str, str, bool], float]:
    """(component, region, spot) -> hourly price per unit (vCPU, GiB of RAM, GPU, GiB of SSD)."""
    families = sorted({shape.family for shape in shapes(catalog).values()})
    patterns = {f"{fam}:core": rf"{fam} Instance Core" for fam in families}
    patterns |= {f"{fam}:ram": rf"{fam} Instance Ram" for fam in families}
    patterns |= {f"gpu:{key}": re.escape(name) for key, name in gpu_skus(catalog).items()}
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


def rows_for(
    machines_regions: list[tuple[str, str]], index: dict, catalog: GpuCatalog | None = None
) -> list[dict[str, Any]]:
    rows = []
    known = shapes(catalog)
    for machine, region in machines_regions:
        shape = known.get(machine)
        if shape is None:
            print(
                f"WARNING: no shape for {machine}; add it to its GPU's `shapes` in "
                "catalog/gpu_availability.yaml",
                file=sys.stderr,
            )
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


def catalog_keys(catalog: GpuCatalog | None = None) -> list[tuple[str, str]]:
    """Every (machine type, region) a node pool may use: what the GPU table must price."""
    catalog = catalog or load_catalog()
    return [
        (machine, region)
        for entry in catalog.gpus.values()
        for machine in entry.machine_types.values()
        for region in entry.zones
    ]


def gpu_table_keys(path: Path, catalog: GpuCatalog | None = None) -> list[tuple[str, str]]:
    """The table's rows plus the catalog's missing ones (a new GPU entry gets priced too)."""
    keys = _keys(path)
    known = set(keys)
    return keys + [key for key in catalog_keys(catalog) if key not in known]


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
    gpu_table = default_price_file()
    for old in (gpu_table, CPU_TABLE):
        rows = rows_for(gpu_table_keys(old) if old == gpu_table else _keys(old), index)
        if not rows:
            print(f"ERROR: no prices found for the machines of {old}", file=sys.stderr)
            return 1
        new = old.with_name(re.sub(r"\d{4}-\d{2}-\d{2}", today, old.name))
        _write(new, rows)
        print(f"wrote {new} ({len(rows)} rows); review the diff against {old.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
