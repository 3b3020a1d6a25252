"""GPU machine prices from the dated table in catalog/ (stdlib only, importable from any env).

The budget policy uses it to price the plan's GPU node pools; the cost report may reuse it.
Prices are all-in per machine (vCPU + RAM + GPU + bundled SSD), in USD, for 730-hour months.
Unknown machine types or regions are refused, never priced as zero.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog"
HOURS_PER_MONTH = 730


def node_capacity(node_config: Mapping[str, Any]) -> str:
    """Where a node pool's nodes come from, read from its `nodeConfig` (the engine's camelCase
    inputs): spot, flex-start, reservation (a specific one) or on-demand.

    Spot has its own price column; flex-start and reservations are priced as on-demand, an upper
    bound (the table has no flex-start discount, and a reservation is billed used or not).
    """
    if node_config.get("spot") or node_config.get("preemptible"):
        return "spot"
    if node_config.get("flexStart"):
        return "flex-start"
    affinity = node_config.get("reservationAffinity") or {}
    if affinity.get("consumeReservationType") == "SPECIFIC_RESERVATION":
        return "reservation"
    return "on-demand"


class UnknownPriceError(KeyError):
    """No price for this machine type in this region."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class MachinePrice:
    machine: str
    gpu_type: str
    gpu_count: int
    region: str
    hour_ondemand: float
    hour_spot: float
    month_ondemand: float
    month_spot: float
    month_1y_cud: float | None  # commitments are not sold for every shape
    month_3y_cud: float | None

    def hourly(self, spot: bool) -> float:
        return self.hour_spot if spot else self.hour_ondemand

    def monthly(self, spot: bool) -> float:
        return self.month_spot if spot else self.month_ondemand


@dataclass(frozen=True)
class PriceTable:
    path: Path
    date: str  # publication date of the table, stamped in every report that uses it
    rows: dict[tuple[str, str], MachinePrice]

    def price(self, machine: str, region: str) -> MachinePrice:
        try:
            return self.rows[(machine, region)]
        except KeyError:
            machines = sorted({m for m, _ in self.rows})
            regions = sorted({r for _, r in self.rows})
            raise UnknownPriceError(
                f"no price for machine type {machine!r} in region {region!r} in {self.path.name}"
                f" (machines: {', '.join(machines)}; regions: {', '.join(regions)})"
            ) from None

    def monthly(self, machine: str, region: str, spot: bool) -> float:
        return self.price(machine, region).monthly(spot)

    def hourly(self, machine: str, region: str, spot: bool) -> float:
        return self.price(machine, region).hourly(spot)


def default_price_file(directory: Path = CATALOG_DIR) -> Path:
    """The newest `gcp_gpu_prices_<date>.csv` in catalog/."""
    files = sorted(directory.glob("gcp_gpu_prices_*.csv"))
    if not files:
        raise FileNotFoundError(f"no gcp_gpu_prices_<date>.csv price table in {directory}")
    return files[-1]


def _optional(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def load_prices(path: Path | None = None) -> PriceTable:
    path = path or default_price_file()
    match = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    if not match:
        raise ValueError(f"price table {path} has no YYYY-MM-DD date in its file name")
    rows: dict[tuple[str, str], MachinePrice] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                price = MachinePrice(
                    machine=row["machine"],
                    gpu_type=row["gpu_type"],
                    gpu_count=int(row["gpu_count"]),
                    region=row["region"],
                    hour_ondemand=float(row["hour_ondemand"]),
                    hour_spot=float(row["hour_spot"]),
                    month_ondemand=float(row["month_ondemand_730h"]),
                    month_spot=float(row["month_spot"]),
                    month_1y_cud=_optional(row["month_1y_cud"]),
                    month_3y_cud=_optional(row["month_3y_cud"]),
                )
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{line}: malformed price row {row!r}: {error}") from error
            rows[(price.machine, price.region)] = price
    return PriceTable(path=path, date=match.group(1), rows=rows)
