"""Helpers for infra tests: committed stack configs as plain data, recordings under fresh mocks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from infra.config import (
    StackConfig,
    parse_stack_config,
    project_name,
    stack_file,
)
from infra.recording import Recorded, record
from infra.stacks import stack_names

# The stack files, never a list kept here (infra/stacks.py).
STACKS = tuple(stack_names())


def stack_values(stack: str = "dev") -> dict[str, Any]:
    """The committed stack's config keys without the namespace, ready to mutate."""
    raw = yaml.safe_load(stack_file(stack).read_text())["config"]
    return {key.split(":", 1)[1]: copy.deepcopy(value) for key, value in raw.items()}


def config_from(values: dict[str, Any], stack: str = "dev") -> StackConfig:
    return parse_stack_config(values, project_name(), stack)


def write_stack_file(path: Path, values: dict[str, Any]) -> Path:
    project = project_name()
    path.write_text(yaml.safe_dump({"config": {f"{project}:{k}": v for k, v in values.items()}}))
    return path


def run_recorded(cfg: StackConfig, program) -> dict[str, Recorded]:
    """Record `program` under fresh mocks; resources by logical name."""
    return {r.name: r for r in record(cfg.project, cfg.stack, cfg.gcp.project_id, program)}


def of_type(recorded: dict[str, Recorded], type_: str) -> list[Recorded]:
    return [r for r in recorded.values() if r.type == type_]
