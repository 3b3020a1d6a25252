"""Golden datasets: JSONL files of eval cases, validated line by line and identified by hash.

One case per line: `id`, `input`, `expected_output`, `category`, optional `metadata`. A bad line
is refused with its file and line number, and every problem in the file is reported at once, so
a dataset author fixes them in one pass. The dataset's identity is the SHA-256 of its bytes:
the run manifest records it, and the comparison pairs cases only within the same content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.evidence import sha256_file, sha256_text

# Llama Guard 3's hazard taxonomy, spelled as in the pipelines dataset (S9-indiscriminate-weapons).
SAFETY_CATEGORIES: tuple[str, ...] = (
    "S1-violent-crimes",
    "S2-non-violent-crimes",
    "S3-sex-related-crimes",
    "S4-child-sexual-exploitation",
    "S5-defamation",
    "S6-specialized-advice",
    "S7-privacy",
    "S8-intellectual-property",
    "S9-indiscriminate-weapons",
    "S10-hate",
    "S11-self-harm",
    "S12-sexual-content",
    "S13-elections",
    "S14-code-interpreter-abuse",
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class DatasetError(ValueError):
    """A dataset file cannot be used; the message names the file and line of every problem."""


class Golden(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    input: str = Field(min_length=1, max_length=4000)
    expected_output: str = Field(min_length=1)
    category: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_is_a_slug(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("must be 1-128 characters of letters, digits, '.', '_' or '-'")
        return value

    @field_validator("input", "expected_output")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @property
    def input_sha256(self) -> str:
        """Identity of the case's content: pairing and the response cache use it."""
        return sha256_text(json.dumps([self.input, self.expected_output]))


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    version: int
    sha256: str
    cases: tuple[Golden, ...]
    kind: str = "regular"

    def manifest(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "version": self.version,
            "sha256": self.sha256,
            "cases": len(self.cases),
            "kind": self.kind,
        }


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in error.errors()
    )


def load_dataset(path: Path, name: str, version: int = 1, kind: str = "regular") -> Dataset:
    """Read and validate one JSONL dataset; raise DatasetError listing every bad line."""
    if not path.is_file():
        raise DatasetError(f"dataset '{name}' not found at {path}")
    problems: list[str] = []
    cases: list[Golden] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{path}:{number}: not valid JSON ({error.msg})")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{path}:{number}: expected a JSON object, got {type(raw).__name__}")
            continue
        try:
            case = Golden.model_validate(raw)
        except ValidationError as error:
            problems.append(f"{path}:{number}: {_describe(error)}")
            continue
        if case.id in seen:
            problems.append(f"{path}:{number}: id '{case.id}' repeats line {seen[case.id]}")
            continue
        if kind == "safety" and case.category not in SAFETY_CATEGORIES:
            problems.append(
                f"{path}:{number}: category '{case.category}' is not a safety category "
                f"({', '.join(SAFETY_CATEGORIES)})"
            )
            continue
        seen[case.id] = number
        cases.append(case)
    if not cases and not problems:
        problems.append(f"{path}: no cases (the file is empty)")
    if problems:
        raise DatasetError(
            f"dataset '{name}' has {len(problems)} problem(s):\n  " + "\n  ".join(problems)
        )
    return Dataset(name, path, version, sha256_file(path), tuple(cases), kind)
