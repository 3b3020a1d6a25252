"""Release gates (policies/gates.yaml), typed and validated.

Importable from every component environment (PyYAML and pydantic only). A malformed file is
refused with the field and the rule, before any gate runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

GATES_FILE = Path(__file__).with_name("gates.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeakShares(_Strict):
    """Per kind of leak, the largest share (0..1) of a dataset's goldens allowed to leak."""

    exact: float = Field(default=0.0, ge=0, le=1)
    normalised: float = Field(default=0.0, ge=0, le=1)
    near_duplicate: float = Field(default=0.0, ge=0, le=1)


class LeakageGates(_Strict):
    """Goldens against the training data (evals/leakage.py), checked on every eval.

    A golden is a near-duplicate of a training message when at least `near_duplicate` of its
    distinct word `ngram`-grams occur in that one message (containment).
    """

    ngram: int = Field(default=3, ge=2, le=8)
    near_duplicate: float = Field(default=0.5, gt=0, le=1)
    max_share: LeakShares = LeakShares()
    # Closest goldens listed per dataset in the manifest (and in a failed check's note).
    examples: int = Field(default=5, ge=1, le=50)


class CategoryMinimum(_Strict):
    """Every category of `dataset` must reach `minimum` mean `metric` (overrides per category)."""

    dataset: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    minimum: float = Field(ge=0, le=1)
    categories: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}


class CategoryGates(_Strict):
    """Per-category minimums (evals/categories.py). A category with fewer than `min_cases`
    scored cases cannot be judged, and its check fails."""

    min_cases: int = Field(default=5, ge=1)
    rules: list[CategoryMinimum] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_rule_per_dataset_and_metric(self) -> CategoryGates:
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.dataset, rule.metric)
            if key in seen:
                raise ValueError(
                    f"rules: dataset '{rule.dataset}' metric '{rule.metric}' is listed twice; "
                    "put per-category minimums under one rule's `categories`"
                )
            seen.add(key)
        return self


class EvalGates(_Strict):
    min_scores: dict[str, float] = Field(default_factory=dict)
    max_regression: float = Field(ge=0, le=1)
    confidence: float = Field(gt=0.5, lt=1)
    min_cases: int = Field(ge=1)
    # Per metric, in base-versus-head comparisons: fewer paired cases is `inconclusive`.
    min_cases_per_metric: int = Field(default=50, ge=1)
    # Power at which the comparison reports the smallest regression a set can detect.
    power: float = Field(default=0.8, gt=0.5, lt=1)
    # Judge metrics: the largest share of cases the judge may fail to score (after retries)
    # before the metric is inconclusive; it also needs min_cases_per_metric scored cases.
    max_unscored_share: float = Field(default=0.05, ge=0, le=1)
    # Goldens against the training data; None: not checked.
    leakage: LeakageGates | None = None
    # Per dataset and category minimums; None: none.
    category_minimums: CategoryGates | None = None

    @model_validator(mode="after")
    def _scores_are_fractions(self) -> EvalGates:
        for metric, score in self.min_scores.items():
            if not 0 <= score <= 1:
                raise ValueError(f"min_scores.{metric}={score}: must be between 0 and 1")
        return self


class LoadGates(_Strict):
    ttft_p95_ms: float = Field(gt=0)
    itl_p95_ms: float = Field(gt=0)
    e2e_p95_ms: float = Field(gt=0)
    max_error_rate: float = Field(ge=0, le=1)
    max_truncation_rate: float = Field(ge=0, le=1)
    min_requests: int = Field(ge=1)


class CanaryCheck(_Strict):
    """A check on the canary's load summary, as Flagger's `analysis.metrics`: a dotted path into
    build/load/summary.json and the range it must stay in."""

    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    metric: str = Field(pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_range(self) -> CanaryCheck:
        if self.min is None and self.max is None:
            raise ValueError(f"checks[{self.name}]: give min, max or both for {self.metric}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"checks[{self.name}]: min {self.min} is above max {self.max}")
        return self


class CanaryGates(_Strict):
    steps: list[int]
    # Seconds of load on each side at every step before it is judged (`make load DURATION=`).
    soak_s: float = Field(gt=0)
    # Seconds one phase may take (prepare, warm-up, one step, promotion, rollback); 0: no limit.
    step_timeout_s: float = Field(ge=0)
    checks: list[CanaryCheck] = []
    max_latency_ratio: float = Field(ge=1)
    # Per latency metric (ttft, itl, e2e): below this difference (ms) the relative check passes
    # whatever the ratio: at p95 on small samples, a few ms on a fast endpoint is noise.
    latency_noise_floor_ms: dict[Literal["ttft", "itl", "e2e"], Annotated[float, Field(ge=0)]] = {}
    max_error_rate_delta: float = Field(ge=0, le=1)
    min_requests_per_step: int = Field(ge=1)

    @model_validator(mode="after")
    def _steps_climb_to_100(self) -> CanaryGates:
        steps = self.steps
        if not steps or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps):
            raise ValueError(f"steps={steps}: weights in 1..100 ending at 100, e.g. [10, 50, 100]")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps={steps}: weights must strictly increase")
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(f"checks: names must be unique ({names})")
        return self


class TrainingGates(_Strict):
    min_eval_accuracy: float = Field(ge=0, le=1)


class MonitoringGates(_Strict):
    """`make monitor`: when logged traffic has drifted from the reference (monitor/drift.py)."""

    min_requests: int = Field(ge=1)
    input_length_wasserstein: float = Field(gt=0)
    oov_rate_delta: float = Field(gt=0, lt=1)
    text_domain_auc: float = Field(gt=0.5, le=1)
    label_psi: float = Field(gt=0)
    refusal_rate_delta: float = Field(gt=0, lt=1)
    format_invalid_delta: float = Field(gt=0, lt=1)


class Gates(_Strict):
    version: int = Field(ge=1, le=1)
    eval: EvalGates
    load: LoadGates
    canary: CanaryGates
    training: TrainingGates
    monitoring: MonitoringGates


class GatesError(ValueError):
    """policies/gates.yaml cannot be used."""


def load_gates(path: Path = GATES_FILE) -> Gates:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise GatesError(f"release gates file {path} is missing") from error
    except yaml.YAMLError as error:
        raise GatesError(f"release gates file {path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise GatesError(f"release gates file {path} must be a mapping of sections")
    try:
        return Gates.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            f" (got {e.get('input')!r})"
            for e in error.errors()
        )
        raise GatesError(f"release gates file {path} is invalid: {problems}") from error
