"""The usage profile the cost report prices (cost/usage.yaml), typed and checked.

Everything the plan and the load test cannot know lives in that one file: utilisation, what a
user does, the model the GPU pools serve (for the roofline bound), the hosted API rows to compare
with, and the monthly volumes of the variable infra costs. A bad value fails with the field's
path and what would be valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

USAGE_FILE = Path(__file__).resolve().parent / "usage.yaml"
BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1}


class UsageError(ValueError):
    """The usage file cannot be used; the message names every bad field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Users(_Strict):
    requests_per_user_per_day: float = Field(gt=0)
    input_tokens_per_request: int = Field(ge=0)
    output_tokens_per_request: int = Field(gt=0)
    days_per_month: float = Field(gt=0, le=31)

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_user_per_day * self.days_per_month


class ModelShape(_Strict):
    name: str = Field(min_length=1)
    parameters_billion: float = Field(gt=0)
    dtype: Literal["float32", "bfloat16", "float16", "fp8"]
    kv_cache_dtype: Literal["float32", "bfloat16", "float16", "fp8"]
    layers: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)

    @property
    def weight_bytes(self) -> float:
        return self.parameters_billion * 1e9 * BYTES_PER_VALUE[self.dtype]

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V, every layer, every KV head: what one token of context costs to read."""
        return (
            2 * self.layers * self.kv_heads * self.head_dim * BYTES_PER_VALUE[self.kv_cache_dtype]
        )


class Infra(_Strict):
    nat_processed_gib: float = Field(ge=0)
    load_balancer_processed_gib: float = Field(ge=0)
    prometheus_active_series: int = Field(ge=0)
    logging_gib: float = Field(ge=0)
    artifact_registry_gib: float = Field(ge=0)
    bucket_gib: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class Usage(_Strict):
    utilisation: float = Field(gt=0, le=1)
    users: Users
    model: ModelShape
    hosted_api: list[str] = Field(default_factory=list)
    infra: Infra


def _problems(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {where}: {item['msg']}{shown}")
    return "\n".join(lines)


def load_usage(path: Path = USAGE_FILE) -> Usage:
    if not path.is_file():
        raise UsageError(f"usage file {path} not found; copy cost/usage.yaml and edit it")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UsageError(f"usage file {path} is not valid YAML: {error}") from error
    try:
        usage = Usage.model_validate(document)
    except ValidationError as error:
        raise UsageError(
            f"usage file {path} has bad fields:\n{_problems(error)}\n"
            "Fix them in that file (cost/README.md, 'Usage file', says what each field means)."
        ) from error
    return usage
