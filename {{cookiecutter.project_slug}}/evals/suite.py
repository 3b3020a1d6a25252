"""The eval suite (evals/suite.yaml), typed and checked before any model call.

Loading the suite loads its datasets and prompt and checks every metric name and parameter,
so a typo fails in a second with the file and the name, not after a slow run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.evidence import sha256_file
from common.project import ROOT
from evals.goldens import Dataset, load_dataset
from evals.metrics import UnknownMetricError, check_metric
from evals.prompting import PROMPTS_DIR, Prompt, load_prompt

SUITE_FILE = Path(__file__).resolve().parent / "suite.yaml"


class SuiteError(ValueError):
    """The suite config cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decoding(_Strict):
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 1234
    max_tokens: int = Field(16, ge=1, le=4096)


class RunnerSettings(_Strict):
    concurrency: int = Field(8, ge=1, le=256)
    retries: int = Field(3, ge=0, le=10)
    timeout_s: float = Field(30, gt=0)


class BootstrapSettings(_Strict):
    resamples: int = Field(2000, ge=100)
    seed: int = 0


class DatasetSpec(_Strict):
    path: str
    version: int = Field(ge=1)
    kind: Literal["regular", "safety"] = "regular"
    metrics: list[str] = Field(min_length=1)


class SuiteFile(_Strict):
    version: int = Field(ge=1, le=1)
    prompt: str
    decoding: Decoding = Decoding()
    runner: RunnerSettings = RunnerSettings()
    bootstrap: BootstrapSettings = BootstrapSettings()
    datasets: dict[str, DatasetSpec] = Field(min_length=1)
    metrics: dict[str, dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Suite:
    path: Path
    sha256: str
    config: SuiteFile
    prompt: Prompt
    datasets: tuple[Dataset, ...]

    @property
    def decoding(self) -> Decoding:
        return self.config.decoding

    def metric_params(self, name: str) -> dict[str, Any]:
        return dict(self.config.metrics[name] or {})

    def metrics_for(self, dataset: str) -> list[str]:
        return list(self.config.datasets[dataset].metrics)

    def is_judge(self, name: str) -> bool:
        return self.metric_params(name).get("judge") is not None


def load_suite(
    path: Path = SUITE_FILE, prompt: str | None = None, prompts_dir: Path = PROMPTS_DIR
) -> Suite:
    if not path.is_file():
        raise SuiteError(f"eval suite {path} not found")
    try:
        config = SuiteFile.model_validate(yaml.safe_load(path.read_text()))
    except yaml.YAMLError as error:
        raise SuiteError(f"eval suite {path} is not valid YAML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise SuiteError(f"eval suite {path} is invalid: {problems}") from error
    for dataset_name, spec in config.datasets.items():
        for metric in spec.metrics:
            if metric not in config.metrics:
                raise UnknownMetricError(
                    f"{path}: dataset '{dataset_name}' uses metric '{metric}', which is not "
                    f"configured under `metrics:` ({', '.join(config.metrics)})"
                )
    for name, params in config.metrics.items():
        try:
            check_metric(name, dict(params or {}))
        except UnknownMetricError as error:
            raise UnknownMetricError(f"{path}: {error}") from error
    datasets = tuple(
        load_dataset(_resolve(spec.path), name, spec.version, spec.kind)
        for name, spec in config.datasets.items()
    )
    return Suite(
        path=path,
        sha256=sha256_file(path),
        config=config,
        prompt=load_prompt(prompt or config.prompt, prompts_dir),
        datasets=datasets,
    )


def _resolve(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else ROOT / candidate
