"""The evidence one stage writes and another reads, as typed schemas (pydantic).

Each producer validates its document against its schema before writing it, and each reader
parses it with the same schema, so a renamed or missing key is a schema error naming the field
in both places, never a "missing evidence" guess at the reader. A schema lists what readers rely
on; producers add informational fields freely (`extra="allow"`), and readers must not use those.

    build/load/summary.json   LoadSummary  loadtest/run.py -> release/gate.py, release/evidence.py
    build/eval/summary.json   EvalSummary  evals/cli.py -> release/gate.py, release/evidence.py,
                                           `make eval-compare`
    build/eval/compare.json   EvalCompare  evals/cli.py -> release/gate.py
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ContractError(ValueError):
    """A document does not match its schema; the message names the document and each field."""


class Contract(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @classmethod
    def read(cls, document: Any, what: str) -> Self:
        """The document as this schema, or ContractError naming `what` and every bad field."""
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or '(document)'}: {item['msg']}"
                for item in error.errors()
            )
            raise ContractError(
                f"{what} does not match its schema ({cls.__name__}, common/contracts.py):"
                f" {problems}"
            ) from None


# --- load tests --------------------------------------------------------------------------------


class Distribution(Contract):
    """Milliseconds over the run's answered requests; None when there were none."""

    n: int = Field(ge=0)
    p50: float | None
    p95: float | None


class LoadSummary(Contract):
    endpoint: str | None  # which server was measured; None fails the identity check by name
    requests: int = Field(ge=0)
    ok_requests: int = Field(ge=0)
    error_rate: float = Field(ge=0, le=1)
    truncation_rate: float = Field(ge=0, le=1)
    # False for ignore_eos runs: they go to max_tokens by design (loadtest/metrics.py).
    truncation_gated: bool
    output_tokens_per_s: float = Field(ge=0)
    ttft_ms: Distribution
    itl_ms: Distribution
    e2e_ms: Distribution

    def p95_ms(self, metric: Literal["ttft", "itl", "e2e"]) -> float | None:
        return {"ttft": self.ttft_ms, "itl": self.itl_ms, "e2e": self.e2e_ms}[metric].p95

    @property
    def no_inter_token_gaps(self) -> bool:
        """Answered requests, none with a second token: ITL is undefined (the load stage's own
        gate passes it, loadtest/metrics.py `gate`)."""
        return self.itl_ms.n == 0 and self.ok_requests > 0


# --- evals -------------------------------------------------------------------------------------


class ModelRef(Contract):
    """Which model a document is about: the registry version and the endpoint that served it."""

    model_version: str = ""
    endpoint: str = ""

    @field_validator("model_version", "endpoint", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # None is "names none" (the identity checks say so); a registry version is a number to
        # YAML and JSON writers alike, and is compared as text.
        if value is None:
            return ""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class StageGate(Contract):
    """A stage's own verdict, so the canary holds back on every check that stage makes."""

    passed: bool
    failed: list[str] = []


class MetricScore(Contract):
    mean: float | None
    gated: bool = True


class EvalManifest(Contract):
    model: ModelRef


class EvalSummary(Contract):
    manifest: EvalManifest
    metrics: dict[str, MetricScore]
    cases: list[Any]
    # Metrics the suite could not score, with why (e.g. no judge endpoint configured).
    skipped_metrics: dict[str, str] = {}
    gate: StageGate | None = None


class CompareRow(Contract):
    """One metric of a paired comparison (evals/compare.py); `missing` when it was not paired."""

    gated: bool = True
    base: float | None = None
    head: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    outcome: Literal["non_inferior", "inconclusive", "regressed"] | None = None
    missing: str | None = None


class CompareSide(Contract):
    # Absent: a document that names no model, which the identity checks refuse by name.
    model: ModelRef = ModelRef()


class Comparison(Contract):
    base: CompareSide
    head: CompareSide
    paired_cases: int = Field(ge=0)
    metrics: dict[str, CompareRow]


class EvalCompare(Contract):
    comparison: Comparison
    gate: StageGate | None = None
    skipped_metrics: dict[str, str] = {}
