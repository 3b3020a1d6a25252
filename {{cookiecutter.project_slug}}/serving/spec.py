"""The serving definition (serving/serving.yaml), typed, and the vLLM command lines it implies.

One file says how the model is served; this module turns it into
  * `gke_args(...)`: the vLLM server arguments of the GKE Deployments (GPU image), and
  * `local_args(...)`: the arguments of the local CPU server (`make serve`).
Both start from the same `engine` section. The local server drops only the GPU-only arguments
listed in `GPU_ONLY_ARGS` (with the reason for each), so what CI tests is what production runs.

Needs only pydantic and PyYAML: the infra env (Pulumi program) and the serving env import it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

SPEC_FILE = Path(__file__).resolve().parent / "serving.yaml"
METRIC_QUEUE = "vllm:num_requests_waiting"

# Arguments the GKE server gets and the local CPU server does not, and why.
GPU_ONLY_ARGS = {
    "--gpu-memory-utilization": "sizes the KV cache as a share of GPU memory; on the CPU the "
    "KV cache is set in GiB by VLLM_CPU_KVCACHE_SPACE (local.kv_cache_space_gib) instead",
    "--tensor-parallel-size": "splits the model over the GPUs of one node; the local server is "
    "one CPU process (the tiny model needs no split)",
}

IMAGE_RE = re.compile(r"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$")
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$")


class SpecError(ValueError):
    """serving.yaml cannot be used; the message names every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    ref: str = "champion"
    served_name: str = ""


class EngineSettings(_Strict):
    max_model_len: int = Field(ge=16, le=1_048_576)
    max_num_seqs: int = Field(default=64, ge=1, le=4096)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    enable_prefix_caching: bool = True
    seed: int = Field(default=0, ge=0)
    # Structured (JSON-schema) answers without free whitespace between tokens: a weak model
    # under a JSON grammar otherwise can emit spaces until max_tokens (seen with the tiny model
    # as the eval judge). vLLM's StructuredOutputsConfig.disable_any_whitespace (server-wide),
    # which vLLM accepts only with the backend named (xgrammar, its default choice for JSON).
    compact_json: bool = True


class GpuSettings(_Strict):
    gpu_memory_utilization: float = Field(default=0.9, gt=0.1, le=0.98)


class LocalSettings(_Strict):
    kv_cache_space_gib: int = Field(default=1, ge=1, le=256)
    startup_timeout_s: int = Field(default=900, ge=10)
    host: str = "127.0.0.1"
    port_range: tuple[int, int] = (18000, 18999)

    @field_validator("port_range")
    @classmethod
    def _ports(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1024 <= value[0] <= value[1] <= 65535:
            raise ValueError(f"{list(value)}: [first, last] with 1024 <= first <= last <= 65535")
        return value


class Probe(_Strict):
    path: str
    period_s: int = Field(ge=1)
    failure_threshold: int = Field(ge=1)
    timeout_s: int = Field(default=5, ge=1)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r}: an HTTP path starting with '/'")
        return value


class Probes(_Strict):
    startup: Probe
    readiness: Probe
    liveness: Probe


class Resources(_Strict):
    """The vLLM Pod requests its GPU node's allocatable CPU and memory less what GKE's own
    DaemonSets need there (infra/node_sizing.py derives it from the catalog's machine shape)."""

    daemonset_reserve_cpu: float = Field(default=1.0, ge=0)
    daemonset_reserve_memory_gib: float = Field(default=2.0, ge=0)
    ephemeral_storage: str = "10Gi"

    @field_validator("ephemeral_storage")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not QUANTITY_RE.match(value):
            raise ValueError(f"{value!r}: a Kubernetes quantity such as '4', '500m' or '16Gi'")
        return value


class Autoscaling(_Strict):
    metric: Literal["vllm:num_requests_waiting"] = METRIC_QUEUE
    target_average_value: float = Field(default=5, gt=0)
    scale_down_stabilization_s: int = Field(default=300, ge=0, le=3600)


class GkeSettings(_Strict):
    image: str
    port: int = Field(default=8000, ge=1024, le=65535)
    resources: Resources = Field(default_factory=Resources)
    shm_size: str = "2Gi"
    probes: Probes
    termination_grace_s: int = Field(default=120, ge=0)
    prestop_sleep_s: int = Field(default=15, ge=0)
    request_timeout_s: int = Field(default=600, ge=30, le=86400)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    pdb_max_unavailable: int = Field(default=1, ge=1)

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if (
            not IMAGE_RE.match(value)
            or value.endswith(":latest")
            or ":" not in value.split("/")[-1]
        ):
            raise ValueError(f"{value!r}: pin the image to a release tag or digest, never latest")
        return value


class Monitoring(_Strict):
    ttft_p95_seconds: float = Field(gt=0)
    e2e_p95_seconds: float = Field(gt=0)
    error_ratio: float = Field(gt=0, lt=1)
    queue_depth: float = Field(gt=0)
    kv_cache_usage: float = Field(gt=0, le=1)
    duration_s: int = Field(default=300, ge=60)


class RequestLogging(_Strict):
    """What the server logs about each request (serving/request_log.py; monitor/ reads it)."""

    requests: bool = True
    outputs: bool = True
    max_log_len: int = Field(default=4096, ge=64, le=1_000_000)
    redact: list[Literal["email", "phone", "card"]] = ["email", "phone", "card"]

    @model_validator(mode="after")
    def _outputs_need_requests(self) -> RequestLogging:
        if self.outputs and not self.requests:
            raise ValueError("outputs: true needs requests: true (vLLM refuses the pair)")
        return self


class ServingSpec(_Strict):
    model: ModelSettings = Field(default_factory=ModelSettings)
    engine: EngineSettings
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    gke: GkeSettings
    monitoring: Monitoring
    logging: RequestLogging = Field(default_factory=RequestLogging)

    def served_name(self) -> str:
        """The model name clients send; defaults to llmops.yaml model.served_name."""
        if self.model.served_name:
            return self.model.served_name
        from common.project import load_project

        return load_project().model.served_name

    def engine_args(self, model: str, served_name: str) -> list[str]:
        """Arguments both servers share."""
        engine = self.engine
        args = [
            "--model",
            model,
            "--served-model-name",
            served_name,
            "--max-model-len",
            str(engine.max_model_len),
            "--max-num-seqs",
            str(engine.max_num_seqs),
            "--dtype",
            engine.dtype,
            "--seed",
            str(engine.seed),
            "--enable-prefix-caching"
            if engine.enable_prefix_caching
            else "--no-enable-prefix-caching",
            *self.log_args(),
        ]
        if engine.compact_json:
            args += [
                "--structured-outputs-config",
                '{"backend": "xgrammar", "disable_any_whitespace": true}',
            ]
        return args

    def log_args(self) -> list[str]:
        """vLLM's request logging: the monitor's input. Deltas are off: one line per answer."""
        if not self.logging.requests:
            return ["--no-enable-log-requests"]
        args = ["--enable-log-requests", "--max-log-len", str(self.logging.max_log_len)]
        if self.logging.outputs:
            args += ["--enable-log-outputs", "--no-enable-log-deltas"]
        return args

    def logging_config(self) -> dict:
        """The dictConfig the server loads via VLLM_LOGGING_CONFIG_PATH (serving/request_log.py)."""
        from serving import request_log

        return request_log.logging_config(list(self.logging.redact))

    def gke_args(self, model_path: str, served_name: str, tensor_parallel_size: int) -> list[str]:
        """The vLLM server arguments of a GKE pod (image entrypoint: the OpenAI server)."""
        if tensor_parallel_size < 1:
            raise SpecError(f"tensor_parallel_size={tensor_parallel_size}: must be >= 1")
        return [
            *self.engine_args(model_path, served_name),
            "--host",
            "0.0.0.0",
            "--port",
            str(self.gke.port),
            "--gpu-memory-utilization",
            str(self.gpu.gpu_memory_utilization),
            "--tensor-parallel-size",
            str(tensor_parallel_size),
        ]

    def local_args(self, model_dir: str, served_name: str, port: int) -> list[str]:
        """The local CPU server's arguments: the shared ones, minus GPU_ONLY_ARGS."""
        return [
            *self.engine_args(model_dir, served_name),
            "--host",
            self.local.host,
            "--port",
            str(port),
        ]

    def local_env(self) -> dict[str, str]:
        return {"VLLM_CPU_KVCACHE_SPACE": str(self.local.kv_cache_space_gib)}


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}={e.get('input')!r}: {e['msg']}"
        for e in error.errors()
    )


@cache
def load_spec(path: Path = SPEC_FILE) -> ServingSpec:
    """Read and validate serving.yaml; every problem is named in one SpecError."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(f"{path}: cannot read the serving definition: {error}") from error
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        return ServingSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(f"{path}: {_problems(error)}") from error
