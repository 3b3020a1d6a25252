"""The project's answers (llmops.yaml), typed.

Every component reads project-wide settings through `load_project()`; settings that differ per
environment (dev/staging/prod) live in infra/Pulumi.<stack>.yaml instead.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_MODEL = "embedded-tiny-llama"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProjectInfo(_Strict):
    name: str
    slug: str
    package: str
    description: str


class GcpInfo(_Strict):
    project_id: str
    region: str


class GpuInfo(_Strict):
    type: str
    per_node: int = Field(ge=1)
    spot: bool
    max_nodes: int = Field(ge=1)


class ModelInfo(_Strict):
    base_model: str
    served_name: str
    registry_name: str

    @property
    def is_embedded(self) -> bool:
        return self.base_model == EMBEDDED_MODEL


class TrainingInfo(_Strict):
    orchestrator: str
    kfp_endpoint: str = ""


class GithubInfo(_Strict):
    repository: str


class Labels(_Strict):
    team: str
    cost_center: str = Field(alias="cost-center")


class Project(_Strict):
    project: ProjectInfo
    gcp: GcpInfo
    gpu: GpuInfo
    model: ModelInfo
    training: TrainingInfo
    github: GithubInfo
    labels: Labels


@cache
def load_project(path: Path = ROOT / "llmops.yaml") -> Project:
    return Project.model_validate(yaml.safe_load(path.read_text()))
