"""The infra/README.md recipes as code, for the tests that guard them (stdlib only).

"Add a GPU type": one entry in catalog/gpu_availability.yaml and its rows in the GPU price table.
"Add a stack": infra/Pulumi.<stack>.yaml and policies/config/<stack>.json. Nothing else: the
tests apply exactly these edits to a copy of the project (or point the loaders at the edited
files) and check that the plan, the policies, the cost report and the answer rules accept them.

The zones and prices below are illustrative (shapes from Google Cloud's accelerator-optimized
machine family docs); a real addition checks them with `gcloud compute accelerator-types list`
and `make cost-refresh-prices`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NEW_GPUS = {"nvidia-h200-141gb": "a3-ultragpu-8g", "nvidia-b200": "a4-highgpu-8g"}
NEW_GPU_REGION = "us-central1"

# Appended under `gpus:` (the catalog's last key), indented as the other entries.
CATALOG_ROWS = """\
  nvidia-h200-141gb:
    price_key: h200-141gb
    family: a3-ultragpu
    machine_types: {8: a3-ultragpu-8g}
    shapes:
      a3-ultragpu-8g: {gpus: 8, vcpus: 224, ram_gib: 2952, local_ssd_gib: 12000}
    billing_sku: Nvidia H200 141GB GPU
    monthly_budget_usd_per_gpu: 12000
    spot_only_machine_types: []
    zones:
      us-central1: [us-central1-b]
      europe-west4: [europe-west4-b]
  nvidia-b200:
    price_key: b200
    family: a4-highgpu
    machine_types: {8: a4-highgpu-8g}
    shapes:
      a4-highgpu-8g: {gpus: 8, vcpus: 224, ram_gib: 3968, local_ssd_gib: 12000}
    billing_sku: Nvidia B200 GPU
    monthly_budget_usd_per_gpu: 14000
    spot_only_machine_types: []
    zones:
      us-central1: [us-central1-b]
"""

# machine,gpu_type,gpu_count,region,hour_ondemand,hour_spot,month_ondemand_730h,
# month_1y_cud,month_3y_cud,month_spot
PRICE_ROWS = """\
a3-ultragpu-8g,h200-141gb,8,us-central1,84.806908,29.721704,61909.04284,,,21696.84392
a3-ultragpu-8g,h200-141gb,8,europe-west4,93.287599,32.693874,68099.94727,,,23866.52802
a4-highgpu-8g,b200,8,us-central1,101.25,36.45,73912.5,,,26608.5
"""


def newest_price_table(root: Path) -> Path:
    return sorted((root / "catalog").glob("gcp_gpu_prices_*.csv"))[-1]


def add_gpu_types(root: Path) -> None:
    """The whole "Add a GPU type" recipe: a catalog entry and its price rows."""
    catalog = root / "catalog" / "gpu_availability.yaml"
    text = catalog.read_text()
    last_key = re.findall(r"^(\w+):", text, flags=re.M)[-1]
    assert last_key == "gpus", f"the recipe appends under `gpus:`, the last key is {last_key!r}"
    catalog.write_text(text.rstrip("\n") + "\n" + CATALOG_ROWS)
    table = newest_price_table(root)
    table.write_text(table.read_text().rstrip("\n") + "\n" + PRICE_ROWS)


def add_stack(root: Path, stack: str = "qa", environment: str = "qa", **replace: str) -> Path:
    """The whole "Add a stack" recipe: a stack file (here: staging's, edited) and a policy
    config. `replace` maps old -> new text in the copied stack file (e.g. the GCP project id)."""
    source = root / "infra" / "Pulumi.staging.yaml"
    text = source.read_text()
    text = re.sub(r"(:environment:) staging", rf"\1 {environment}", text)
    text = text.replace("Stack `staging`", f"Stack `{stack}`")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    target = root / "infra" / f"Pulumi.{stack}.yaml"
    target.write_text(text)
    shutil.copy(
        root / "policies" / "config" / "staging.json",
        root / "policies" / "config" / f"{stack}.json",
    )
    return target


def copy_project(target: Path) -> Path:
    """The project's sources (no build outputs, environments or git) under `target`."""
    ignore = shutil.ignore_patterns("build", ".venv", ".git", "__pycache__", ".mypy_cache")
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    return target
