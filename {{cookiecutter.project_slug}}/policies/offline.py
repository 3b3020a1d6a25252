"""Run the policy pack's validators on a recorded plan, with a stack's policy config.

The config file is the one `pulumi preview --policy-pack policies --policy-pack-config
policies/config/<stack>.json` reads: `{"policy-name": "advisory"}` or
`{"policy-name": {"enforcementLevel": "mandatory", "<param>": value}}`. Unknown policies, levels
or parameters are refused, so a typo can never switch a guardrail off silently.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from policies.rules import LEVELS, POLICIES, PlanResource, Policy, by_name, check_resource

CONFIG_DIR = Path(__file__).resolve().parent / "config"


class PolicyConfigError(ValueError):
    """A policy config file that cannot be used."""


@dataclass(frozen=True)
class Setting:
    level: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource_type: str | None
    resource: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_file(stack: str) -> Path:
    return CONFIG_DIR / f"{stack}.json"


def defaults() -> dict[str, Setting]:
    return {p.name: Setting(p.level, dict(p.params)) for p in POLICIES}


def load_policy_config(path: Path | None) -> dict[str, Setting]:
    """Defaults from policies/rules.py, overridden by `path` (None: defaults only)."""
    settings = defaults()
    if path is None:
        return settings
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigError(f"policy config {path} not found") from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"policy config {path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"policy config {path} must be an object of policy names")
    known = by_name()
    for name, value in raw.items():
        policy = known.get(name)
        if policy is None:
            raise PolicyConfigError(f"{path}: unknown policy {name!r} (policies: {sorted(known)})")
        settings[name] = _setting(path, policy, value)
    return settings


def _setting(path: Path, policy: Policy, value: Any) -> Setting:
    level, params = policy.level, dict(policy.params)
    if isinstance(value, str):
        level, overrides = value, {}
    elif isinstance(value, dict):
        overrides = dict(value)
        level = overrides.pop("enforcementLevel", level)
    else:
        raise PolicyConfigError(
            f"{path}: {policy.name}: expected a level or an object, got {value!r}"
        )
    if level not in LEVELS:
        raise PolicyConfigError(
            f"{path}: {policy.name}.enforcementLevel={level!r}: one of {LEVELS}"
        )
    for key, new in overrides.items():
        if key not in params:
            raise PolicyConfigError(
                f"{path}: {policy.name}.{key}: unknown parameter (parameters: {sorted(params)})"
            )
        old = params[key]
        same_kind = (
            isinstance(new, list)
            if isinstance(old, list)
            else (isinstance(new, int | float) and not isinstance(new, bool))
        )
        if not same_kind:
            raise PolicyConfigError(
                f"{path}: {policy.name}.{key}={new!r}: expected a value like {old!r}"
            )
        params[key] = new
    return Setting(level, params)


def evaluate(resources: list[PlanResource], settings: dict[str, Setting]) -> list[Violation]:
    """Every violation of every enabled policy, resource policies first, in resource order."""
    violations = []
    for policy in POLICIES:
        setting = settings[policy.name]
        if setting.level == "disabled":
            continue
        if policy.stack:
            for resource, message in policy.validate(resources, setting.params):
                violations.append(Violation(policy.name, setting.level, None, resource, message))
            continue
        for res in resources:
            for message in check_resource(policy, res.type, res.props, setting.params):
                violations.append(
                    Violation(policy.name, setting.level, res.type, res.name, message)
                )
    return violations
