"""The GPU availability catalog (catalog/gpu_availability.yaml), typed.

The same table the cookiecutter hook checks answers against: which machine types carry a GPU,
which shapes are Spot-only and in which zones each GPU exists. Read here, never copied.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from common.project import ROOT

CATALOG_FILE = ROOT / "catalog" / "gpu_availability.yaml"


class GpuEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    price_key: str
    family: str
    machine_types: dict[int, str]
    spot_only_machine_types: list[str]
    zones: dict[str, list[str]]


class GpuCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    regions: list[str]
    gpus: dict[str, GpuEntry]

    def machine_type(self, gpu_type: str, gpus_per_node: int) -> str:
        return self.gpus[gpu_type].machine_types[gpus_per_node]

    def zones(self, gpu_type: str, region: str) -> list[str]:
        return self.gpus[gpu_type].zones.get(region, [])

    def spot_only(self, gpu_type: str, machine_type: str) -> bool:
        return machine_type in self.gpus[gpu_type].spot_only_machine_types


@cache
def load_catalog(path: Path = CATALOG_FILE) -> GpuCatalog:
    return GpuCatalog.model_validate(yaml.safe_load(path.read_text()))
