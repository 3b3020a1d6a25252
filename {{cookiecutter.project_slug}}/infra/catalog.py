"""The GPU availability catalog (catalog/gpu_availability.yaml), typed.

The same table the cookiecutter hook checks answers against: which machine types carry a GPU,
which shapes are Spot-only, in which zones each GPU exists, what each priced machine is made of
(for `make cost-refresh-prices`) and the per-GPU budget the policy configs start from. Read here,
never copied: every GPU list in the project (node pool checks, policies, cost) comes from it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.project import ROOT

CATALOG_FILE = ROOT / "catalog" / "gpu_availability.yaml"


class MachineShape(BaseModel):
    """What a machine type is billed as: its parts, each a Cloud Billing Catalog SKU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpus: int = Field(ge=1)
    vcpus: int = Field(ge=1)
    ram_gib: float = Field(gt=0)
    local_ssd_gib: int = Field(default=0, ge=0)


class GpuHardware(BaseModel):
    """What one GPU is, from NVIDIA's datasheet: read by cost/'s roofline estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_gb: float = Field(gt=0)
    memory_bandwidth_gb_s: float = Field(gt=0)
    bf16_dense_tflops: float = Field(gt=0)  # without sparsity
    source: str


class GpuEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    price_key: str  # the price table's gpu_type column
    family: str
    machine_types: dict[int, str]
    shapes: dict[str, MachineShape]
    billing_sku: str  # the GPU's SKU description in the Cloud Billing Catalog
    hardware: GpuHardware | None = None  # optional: without it cost/ shows no roofline
    monthly_budget_usd_per_gpu: float = Field(gt=0)
    spot_only_machine_types: list[str]
    zones: dict[str, list[str]]

    @model_validator(mode="after")
    def _consistent(self) -> GpuEntry:
        problems = []
        for count, machine in self.machine_types.items():
            shape = self.shapes.get(machine)
            if shape is None:
                problems.append(f"machine_types[{count}]={machine!r} has no entry in shapes")
            elif shape.gpus != count:
                problems.append(
                    f"shapes[{machine!r}].gpus={shape.gpus}, machine_types says {count}"
                )
        for machine in self.spot_only_machine_types:
            if machine not in self.machine_types.values():
                problems.append(f"spot_only_machine_types: {machine!r} is not in machine_types")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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

    @property
    def gpu_types(self) -> list[str]:
        return list(self.gpus)

    def shapes(self) -> dict[str, tuple[str, MachineShape]]:
        """Every machine type the catalog describes -> (price key, shape)."""
        return {
            machine: (entry.price_key, shape)
            for entry in self.gpus.values()
            for machine, shape in entry.shapes.items()
        }

    @model_validator(mode="after")
    def _regions_known(self) -> GpuCatalog:
        unknown = {
            f"{gpu}: {region}"
            for gpu, entry in self.gpus.items()
            for region in entry.zones
            if region not in self.regions
        }
        if unknown:
            raise ValueError(f"zones in regions missing from `regions`: {sorted(unknown)}")
        return self


@cache
def load_catalog(path: Path = CATALOG_FILE) -> GpuCatalog:
    return GpuCatalog.model_validate(yaml.safe_load(path.read_text()))
