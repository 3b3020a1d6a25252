"""The GPU list of the cost report comes from the catalog; the "Add a GPU type" recipe prices.

Loaders are pointed at a copy of catalog/ with the recipe applied (tests/recipes.py): the price
refresh learns the new machines' parts and SKUs from the catalog entry, and the cost report
prices a plan that uses them from the added price rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from recipes import NEW_GPU_REGION, NEW_GPUS, add_gpu_types, newest_price_table

from common.project import ROOT
from cost import estimate
from cost import refresh_prices as rp
from cost.plan import load_plan
from cost.prices import Prices
from cost.usage import load_usage
from infra.catalog import CATALOG_FILE, load_catalog


@pytest.fixture
def recipe_root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "catalog", tmp_path / "catalog")
    add_gpu_types(tmp_path)
    return tmp_path


def test_every_node_pool_machine_of_the_catalog_is_priced() -> None:
    table = Prices.load()
    missing = [key for key in rp.catalog_keys() if key not in table.tables[0].rows]
    assert missing == [], (
        f"catalog machine x region without a row in the GPU price table: {missing}"
    )


def test_refresh_shapes_and_skus_come_from_the_catalog() -> None:
    catalog = load_catalog(CATALOG_FILE)
    shapes = rp.shapes(catalog)
    for gpu_type, entry in catalog.gpus.items():
        for machine in entry.shapes:
            assert shapes[machine].gpu_type == entry.price_key, machine
        assert rp.gpu_skus(catalog)[entry.price_key] == entry.billing_sku, gpu_type
    # Every machine of the committed GPU table has a shape, so a refresh re-prices all rows.
    assert {m for m, _ in rp._keys(rp.default_price_file())} <= set(shapes)


def test_recipe_gpu_types_are_refreshed_and_priced(recipe_root: Path, tmp_path: Path) -> None:
    catalog = load_catalog(recipe_root / "catalog" / "gpu_availability.yaml")
    assert set(NEW_GPUS) <= set(catalog.gpus)
    shapes = rp.shapes(catalog)
    assert shapes["a3-ultragpu-8g"].family == "A3" and shapes["a4-highgpu-8g"].family == "A4"
    # The refresh asks the billing catalog for the new family's SKUs and the new GPUs' SKUs.
    skus = [
        {
            "description": f"{name} running in Americas",
            "category": {"usageType": usage},
            "serviceRegions": [NEW_GPU_REGION],
            "pricingInfo": [
                {"pricingExpression": {"tieredRates": [{"unitPrice": {"units": "1", "nanos": 0}}]}}
            ],
        }
        for name in (
            "A4 Instance Core",
            "A4 Instance Ram",
            "Nvidia B200 GPU",
            "SSD backed Local Storage",
        )
        for usage in ("OnDemand", "Preemptible")
    ]
    index = rp.sku_index(skus, catalog)
    (row,) = rp.rows_for([("a4-highgpu-8g", NEW_GPU_REGION)], index, catalog)
    assert (row["gpu_type"], row["gpu_count"]) == ("b200", 8)
    # A new catalog entry's machines are added to the GPU table by the refresh.
    table = newest_price_table(recipe_root)
    assert set(rp.catalog_keys(catalog)) <= set(rp.gpu_table_keys(table, catalog))

    prices = Prices.load(gpu_table=table)
    for machine in NEW_GPUS.values():
        gpu, _ = prices.price(machine, NEW_GPU_REGION)
        assert gpu.gpu_count == 8 and gpu.hourly(spot=True) > 0
    plan = {
        "resources": [
            {
                "type": "gcp:container/cluster:Cluster",
                "name": "svc-gke",
                "parent": "p",
                "inputs": {"name": "svc-gke", "location": NEW_GPU_REGION},
            },
            *(
                {
                    "type": "gcp:container/nodePool:NodePool",
                    "name": f"svc-{machine}",
                    "parent": "p",
                    "inputs": {
                        "cluster": "svc-gke",
                        "location": NEW_GPU_REGION,
                        "nodeConfig": {
                            "machineType": machine,
                            "spot": True,
                            "guestAccelerators": [{"type": gpu_type, "count": 8}],
                        },
                        "nodeLocations": [f"{NEW_GPU_REGION}-b"],
                        "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 1},
                    },
                }
                for gpu_type, machine in NEW_GPUS.items()
            ),
        ]
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    priced = estimate.price_plan(load_plan(path), prices, load_usage().infra)
    hourly = {p["machine_type"]: p["node_hourly"] for p in priced["pools"]}
    for machine in NEW_GPUS.values():
        assert hourly[machine] == prices.price(machine, NEW_GPU_REGION)[0].hourly(spot=True)
