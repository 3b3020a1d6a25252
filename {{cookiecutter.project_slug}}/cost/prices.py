"""Prices for the cost report, each from a dated table stamped in every report.

- Machines: the GPU table in catalog/ plus the system-pool table here, both read by
  `policies.pricing` (one reader for the budget policy and for this report).
- Services (cluster fee, disks, NAT, load balancer, Prometheus, logging, storage, Artifact
  Registry): `gcp_service_prices_<date>.csv` here.
- Hosted LLM APIs, per million tokens: `catalog/hosted_api_prices_<date>.csv`.
Unknown machine types, regions, services or API models are refused, never priced as zero.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from policies.pricing import (
    CATALOG_DIR,
    HOURS_PER_MONTH,
    MachinePrice,
    PriceTable,
    UnknownPriceError,
    default_price_file,
    load_prices,
)

HERE = Path(__file__).resolve().parent
CPU_TABLE = sorted(HERE.glob("gcp_cpu_prices_*.csv"))[-1]

__all__ = ["HOURS_PER_MONTH", "ApiPrice", "Prices", "TokenPrices", "UnknownPriceError"]


def newest(directory: Path, prefix: str) -> Path:
    files = sorted(directory.glob(f"{prefix}_*.csv"))
    if not files:
        raise FileNotFoundError(f"no {prefix}_<date>.csv price table in {directory}")
    return files[-1]


def _date(path: Path) -> str:
    match = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    if not match:
        raise ValueError(f"price table {path} has no YYYY-MM-DD date in its file name")
    return match.group(1)


def _rows(path: Path) -> list[dict[str, str]]:
    """CSV rows below the table's `#` header comment (which cites its sources)."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


@dataclass(frozen=True)
class ServiceTable:
    path: Path
    date: str
    usd: dict[str, float]  # item -> price per unit
    units: dict[str, str]
    sources: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> ServiceTable:
        usd, units, sources = {}, {}, {}
        for line, row in enumerate(_rows(path), start=2):
            try:
                usd[row["item"]] = float(row["usd"])
                units[row["item"]], sources[row["item"]] = row["unit"], row["source"]
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: malformed price row {line} {row!r}: {error}") from error
        return cls(path=path, date=_date(path), usd=usd, units=units, sources=sources)

    def __getitem__(self, item: str) -> float:
        if item not in self.usd:
            raise UnknownPriceError(
                f"no price for {item!r} in {self.path.name} (items: {', '.join(sorted(self.usd))})"
            )
        return self.usd[item]


@dataclass(frozen=True)
class ApiPrice:
    provider: str
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    source: str


@dataclass(frozen=True)
class TokenPrices:
    """A hosted API's per-token list prices."""

    path: Path
    date: str
    rows: dict[str, ApiPrice]

    @classmethod
    def load(cls, path: Path | None = None) -> TokenPrices:
        path = path or newest(CATALOG_DIR, "hosted_api_prices")
        rows = {}
        for line, row in enumerate(_rows(path), start=2):
            try:
                price = ApiPrice(
                    provider=row["provider"],
                    model=row["model"],
                    input_usd_per_mtok=float(row["input_usd_per_mtok"]),
                    output_usd_per_mtok=float(row["output_usd_per_mtok"]),
                    source=row["source"],
                )
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: malformed price row {line} {row!r}: {error}") from error
            rows[price.model] = price
        return cls(path=path, date=_date(path), rows=rows)

    def get(self, model: str) -> ApiPrice:
        if model not in self.rows:
            raise UnknownPriceError(
                f"hosted API model {model!r} is not in {self.path.name}; "
                f"priced models: {', '.join(sorted(self.rows))}. Fix `hosted_api` in "
                "cost/usage.yaml or add a row to the table."
            )
        return self.rows[model]


@dataclass(frozen=True)
class Prices:
    tables: tuple[PriceTable, ...]
    services: ServiceTable
    tokens: TokenPrices

    @classmethod
    def load(
        cls,
        gpu_table: Path | None = None,
        cpu_table: Path = CPU_TABLE,
        service_table: Path | None = None,
        token_table: Path | None = None,
    ) -> Prices:
        return cls(
            (load_prices(gpu_table or default_price_file()), load_prices(cpu_table)),
            ServiceTable.load(service_table or newest(HERE, "gcp_service_prices")),
            TokenPrices.load(token_table),
        )

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
        return [
            *({"file": t.path.name, "date": t.date} for t in self.tables),
            {"file": self.services.path.name, "date": self.services.date},
            {"file": self.tokens.path.name, "date": self.tokens.date},
        ]
