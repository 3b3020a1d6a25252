"""The load profile (loadtest/profile.yaml), typed; bad values are refused with the field."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROFILE_FILE = Path(__file__).with_name("profile.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneratorLimits(_Strict):
    cpu_warn_percent: float = Field(gt=0, le=100)
    cpu_fail_percent: float = Field(gt=0, le=100)


class Profile(_Strict):
    users: int = Field(ge=1)
    spawn_rate: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    steps: list[int] = Field(default_factory=list)
    step_duration_s: float = Field(gt=0)
    max_tokens: int = Field(ge=1)
    temperature: float = Field(ge=0)
    ignore_eos: bool
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
        return self


class ProfileError(ValueError):
    """The load profile cannot be used."""


def load_profile(path: Path = PROFILE_FILE, **overrides: object) -> Profile:
    """Read the profile and apply command-line overrides (None means 'not given')."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"load profile {path} cannot be read: {error}") from error
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Profile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in error.errors()
        )
        raise ProfileError(f"load profile is invalid: {problems}") from error
