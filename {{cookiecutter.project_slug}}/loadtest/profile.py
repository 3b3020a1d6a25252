"""The load profile (loadtest/profile.yaml), typed; bad values are refused with the field."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtest.arrivals import PRECONNECT_LEAD_S

PROFILE_FILE = Path(__file__).with_name("profile.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneratorLimits(_Strict):
    cpu_warn_percent: float = Field(gt=0, le=100)
    cpu_fail_percent: float = Field(gt=0, le=100)


class OpenLoop(_Strict):
    pool_users: int = Field(ge=1)
    late_after_ms: float = Field(ge=0)
    drop_after_s: float = Field(gt=0)
    # A sender's connection idle longer than this when its next arrival is due is replaced
    # just before (loadtest/connections.py); 0 = the request opens it. Below the server's
    # keep-alive (vLLM: 5 s) and above the pre-connect lead.
    reconnect_idle_s: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _above_lead(self) -> OpenLoop:
        if 0 < self.reconnect_idle_s <= PRECONNECT_LEAD_S:
            raise ValueError(
                f"reconnect_idle_s must be 0 (off) or more than the {PRECONNECT_LEAD_S} s "
                f"pre-connect lead (got {self.reconnect_idle_s})"
            )
        return self


class KneeSearch(_Strict):
    start_rate: float = Field(gt=0)
    min_rate: float = Field(gt=0)
    max_rate: float = Field(gt=0)
    resolution: float = Field(gt=0, lt=1)
    repeats: int = Field(ge=1)
    warmup_s: float = Field(ge=0)
    measure_s: float = Field(gt=0)
    max_runs: int = Field(ge=1)
    max_minutes: float = Field(gt=0)

    @model_validator(mode="after")
    def _rates_ordered(self) -> KneeSearch:
        if not self.min_rate <= self.start_rate <= self.max_rate:
            raise ValueError(
                f"min_rate {self.min_rate} <= start_rate {self.start_rate} <= max_rate "
                f"{self.max_rate} is required"
            )
        return self


class OutputTokens(_Strict):
    """How long a class's answers are: natural (EOS, capped at max) or a forced length."""

    distribution: Literal["natural", "fixed", "uniform", "lognormal"]
    max: int = Field(ge=1)
    min: int | None = Field(default=None, ge=1)
    median: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _fields_fit_the_distribution(self) -> OutputTokens:
        kind = self.distribution
        wanted = {
            "natural": set(),
            "fixed": set(),
            "uniform": {"min"},
            "lognormal": {"min", "median", "sigma"},
        }[kind]
        given = {name for name in ("min", "median", "sigma") if getattr(self, name) is not None}
        if given != wanted:
            need = ", ".join(["max", *sorted(wanted)])
            raise ValueError(f"distribution {kind!r} takes exactly: {need} (got {sorted(given)})")
        if self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        if self.median is not None and not self.min <= self.median <= self.max:  # type: ignore[operator]
            raise ValueError(f"median {self.median} outside [min {self.min}, max {self.max}]")
        return self

    @property
    def forced(self) -> bool:
        """Forced lengths are sent with ignore_eos: the answer runs to the drawn length."""
        return self.distribution != "natural"


class RequestClass(_Strict):
    name: str = Field(min_length=1)
    weight: float = Field(gt=0)
    prompts: Path
    output_tokens: OutputTokens


class Profile(_Strict):
    users: int = Field(ge=1)
    spawn_rate: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    rate: float | None = Field(default=None, gt=0)
    open_loop: OpenLoop
    steps: list[int] = Field(default_factory=list)
    step_duration_s: float = Field(gt=0)
    knee: KneeSearch
    mix: list[RequestClass] = Field(min_length=1)
    temperature: float = Field(ge=0)
    seed: int
    request_timeout_s: float = Field(gt=0)
    stop_timeout_s: float = Field(ge=0)
    generator: GeneratorLimits
    ttft_tolerance: float = Field(gt=0)

    @model_validator(mode="after")
    def _steps_climb(self) -> Profile:
        steps = self.steps
        if any(s < 1 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps={steps}: user counts >= 1 in increasing order, e.g. [1, 2, 4]")
        names = [c.name for c in self.mix]
        if len(set(names)) != len(names):
            raise ValueError(f"mix: class names must be unique (got {names})")
        return self

    @property
    def max_tokens(self) -> int:
        return max(c.output_tokens.max for c in self.mix)

    @property
    def ignore_eos(self) -> bool:
        """Every answer is forced to its length (truncation is then not gated)."""
        return all(c.output_tokens.forced for c in self.mix)


class ProfileError(ValueError):
    """The load profile cannot be used."""


def _reshape_mix(
    mix: list, max_tokens: int | None, ignore_eos: bool | None, prompts: Path | None
) -> list:
    """Command-line overrides of the request mix (raw dicts, before validation).

    MAX_TOKENS=N: one class, the first class's prompts, answers capped at N (as before the mix).
    IGNORE_EOS=1: natural answers are forced to their cap. --prompts: every class's prompts.
    """
    if not isinstance(mix, list) or not mix or not all(isinstance(c, dict) for c in mix):
        return mix  # validation says what is wrong
    if max_tokens is not None:
        first = mix[0]
        mix = [
            {
                "name": f"max-tokens-{max_tokens}",
                "weight": 1,
                "prompts": first.get("prompts"),
                "output_tokens": {"distribution": "natural", "max": max_tokens},
            }
        ]
    if ignore_eos:
        mix = [
            {**c, "output_tokens": {**c["output_tokens"], "distribution": "fixed"}}
            if isinstance(c.get("output_tokens"), dict)
            and c["output_tokens"].get("distribution") == "natural"
            else c
            for c in mix
        ]
    if prompts is not None:
        mix = [{**c, "prompts": prompts} for c in mix]
    return mix


def load_profile(
    path: Path = PROFILE_FILE,
    *,
    max_tokens: int | None = None,
    ignore_eos: bool | None = None,
    prompts: Path | None = None,
    **overrides: object,
) -> Profile:
    """Read the profile and apply command-line overrides (None means 'not given')."""
    if max_tokens is not None and max_tokens < 1:
        raise ProfileError(f"max_tokens={max_tokens}: must be >= 1, e.g. MAX_TOKENS=64")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"load profile {path} cannot be read: {error}") from error
    if not isinstance(raw, dict):
        raise ProfileError(f"load profile {path} must be a mapping of settings")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    raw["mix"] = _reshape_mix(raw.get("mix"), max_tokens, ignore_eos, prompts)
    for request_class in raw["mix"] if isinstance(raw["mix"], list) else []:
        # Prompt files are named relative to the profile's folder.
        if isinstance(request_class, dict) and isinstance(request_class.get("prompts"), str):
            request_class["prompts"] = path.parent / request_class["prompts"]
    try:
        return Profile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            if e["loc"]
            else e["msg"]
            for e in error.errors()
        )
        raise ProfileError(f"load profile {path} is invalid: {problems}") from error
