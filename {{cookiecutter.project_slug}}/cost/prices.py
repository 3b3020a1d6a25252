"""Machine prices for the cost report: the GPU table in catalog/ plus the system-pool table here.

Both tables have the same columns and are read by `policies.pricing` (one reader for the budget
policy and for this report). The GPU table covers the accelerator machine shapes; the small
table beside this file covers the general-purpose shapes GKE system pools use. Every report
stamps the dates of the tables it used. Unknown machine types or regions are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from policies.pricing import (
    HOURS_PER_MONTH,
    MachinePrice,
    PriceTable,
    UnknownPriceError,
    default_price_file,
    load_prices,
)

CPU_TABLE = sorted(Path(__file__).parent.glob("gcp_cpu_prices_*.csv"))[-1]
# GKE Standard cluster management fee, per cluster and hour (the free tier's monthly credit
# covers one zonal cluster per billing account; it is not subtracted here).
CLUSTER_FEE_PER_HOUR = 0.10

__all__ = ["CLUSTER_FEE_PER_HOUR", "HOURS_PER_MONTH", "Prices", "UnknownPriceError"]


@dataclass(frozen=True)
class Prices:
    tables: tuple[PriceTable, ...]

    @classmethod
    def load(cls, gpu_table: Path | None = None, cpu_table: Path = CPU_TABLE) -> Prices:
        return cls((load_prices(gpu_table or default_price_file()), load_prices(cpu_table)))

    def price(self, machine: str, region: str) -> tuple[MachinePrice, PriceTable]:
        for table in self.tables:
            if (machine, region) in table.rows:
                return table.rows[(machine, region)], table
        machines = sorted({m for t in self.tables for m, _ in t.rows})
        regions = sorted({r for t in self.tables for _, r in t.rows})
        known = machine in machines
        problem = (
            f"region {region!r} has no price for {machine!r}"
            if known
            else f"unknown machine type {machine!r}"
        )
        raise UnknownPriceError(
            f"{problem} in the price tables ({', '.join(t.path.name for t in self.tables)}); "
            f"priced machine types: {', '.join(machines)}; regions: {', '.join(regions)}. "
            "Add a row (make cost-refresh-prices) rather than pricing it as zero."
        )

    def stamp(self) -> list[dict[str, str]]:
        return [{"file": t.path.name, "date": t.date} for t in self.tables]
