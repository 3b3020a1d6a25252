"""The model under test: an OpenAI-compatible endpoint, probed first, called with retries.

The endpoint is `ENDPOINT` (a base URL ending in /v1) or, by default, the local `stable` server
that `make serve` describes in build/serving/stable.json. The model's identity (served name,
version, content digest, serving arguments) comes from that file, from `MODEL_VERSION`, or stays
unknown, and the server's vLLM version from its `/version`; an unknown version turns the
response cache off, since cached answers could belong to another model.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from common.evidence import BUILD

SERVING_DIR = BUILD / "serving"
# Errors worth another try: the server is busy, restarting, or the connection dropped.
_TRANSIENT = (
    openai.APIConnectionError,
    openai.APITimeoutError,
    openai.RateLimitError,
    openai.InternalServerError,
)


class EndpointError(RuntimeError):
    """The endpoint cannot be reached or keeps failing; the message names the URL.
    `reachable`: the server answered, with an error (as opposed to no answer at all)."""

    def __init__(self, message: str, reachable: bool = False) -> None:
        super().__init__(message)
        self.reachable = reachable


@dataclass(frozen=True)
class Target:
    endpoint: str
    served_model_name: str
    model_version: str
    model_root: str = ""
    source: str = ""
    # Content digest of the weights, tokenizer and config (common/model_digest.py), when known.
    model_digest: str = ""
    vllm_version: str = "unknown"
    # The engine arguments that shape answers, when the server is a local `make serve` one.
    serving_args: tuple[str, ...] = ()

    @property
    def version_known(self) -> bool:
        return self.model_version not in ("", "unknown") or bool(self.model_digest)

    def identity(self) -> dict[str, Any]:
        """Everything about the model and its server that can change an answer."""
        return {
            "served_model_name": self.served_model_name,
            "model_version": self.model_version,
            "model_root": self.model_root,
            "model_digest": self.model_digest,
            "vllm_version": self.vllm_version,
            "serving_args": list(self.serving_args),
        }

    def manifest(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, **self.identity(), "source": self.source}


@dataclass(frozen=True)
class Completion:
    output: str
    latency_ms: float
    finish_reason: str
    completion_tokens: int | None


def _serving_records(serving_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    records = []
    for path in sorted(serving_dir.glob("*.json")):
        try:
            records.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return records


def local_record(endpoint: str, serving_dir: Path = SERVING_DIR) -> dict[str, Any]:
    """The record `make serve` wrote for the server at this endpoint, or {}."""
    for _, candidate in _serving_records(serving_dir):
        if candidate.get("endpoint", "").rstrip("/") == endpoint.rstrip("/"):
            return candidate
    return {}


def resolve_target(
    endpoint: str | None,
    model_version: str | None = None,
    served_model_name: str | None = None,
    serving_dir: Path = SERVING_DIR,
    timeout_s: float = 10.0,
) -> Target:
    """Find the endpoint and the model identity, and check that the endpoint answers."""
    record: dict[str, Any] = {}
    source = "ENDPOINT"
    if not endpoint:
        default = serving_dir / "stable.json"
        if not default.is_file():
            raise EndpointError(
                f"no ENDPOINT given and {default} does not exist: start the local server with "
                "`make serve` or pass ENDPOINT=http://HOST:PORT/v1"
            )
        record = json.loads(default.read_text())
        endpoint = record.get("endpoint", "")
        source = str(default)
    else:
        # A local server started by `make serve` knows its model version.
        record = local_record(endpoint, serving_dir)
        if record:
            source = str(serving_dir / f"{record.get('name', 'local')}.json")
    endpoint = endpoint.rstrip("/")
    models = probe(endpoint, timeout_s)
    name = served_model_name or record.get("served_model_name") or ""
    if not name:
        name = models[0]["id"]
    served = {m["id"]: m for m in models}
    if name not in served:
        raise EndpointError(
            f"endpoint {endpoint} does not serve model '{name}' (it serves: {', '.join(served)})"
        )
    version = model_version or str(record.get("model_version") or "unknown")
    digest = str(record.get("model_digest") or "")
    if version == "local":  # a directory: its content is its version
        version = f"local-{digest.removeprefix('sha256:')[:12]}" if digest else "unknown"
    return Target(
        endpoint,
        name,
        version,
        str(served[name].get("root") or ""),
        source,
        model_digest=digest,
        vllm_version=server_version(endpoint, timeout_s),
        serving_args=tuple(record.get("answer_args") or ()),
    )


def server_version(endpoint: str, timeout_s: float = 10.0) -> str:
    """vLLM's `GET /version` (beside /v1), or "unknown" for servers without it."""
    url = endpoint.rstrip("/").removesuffix("/v1") + "/version"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(json.loads(response.read()).get("version") or "unknown")
    except (OSError, ValueError, AttributeError):
        return "unknown"


def probe_models(
    endpoint: str,
    api_key: str = "not-needed",  # pragma: allowlist secret (local vLLM takes no key)
    timeout_s: float = 10.0,
) -> dict[str, dict[str, Any]]:
    """GET /models as {id: model}; EndpointError naming the URL when it fails."""
    client = openai.OpenAI(base_url=endpoint, api_key=api_key, max_retries=1, timeout=timeout_s)
    try:
        models = [m.model_dump() for m in client.models.list().data]
    except openai.APIError as error:
        raise EndpointError(
            f"endpoint {endpoint} is not reachable ({type(error).__name__}: {error}); "
            "is the server running? (`make serve`, or check ENDPOINT)",
            reachable=isinstance(error, openai.APIStatusError),
        ) from error
    return {m["id"]: m for m in models}


def probe(endpoint: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The served models, or EndpointError naming the URL (local vLLM takes no key)."""
    models = list(probe_models(endpoint, timeout_s=timeout_s).values())
    if not models:
        raise EndpointError(f"endpoint {endpoint} serves no model (GET {endpoint}/models is empty)")
    return models


class ModelClient:
    """Chat completions with bounded retries; thread-safe (the runner calls it from a pool)."""

    def __init__(self, target: Target, timeout_s: float, retries: int, api_key: str = "") -> None:
        self.target = target
        self.retries = retries
        self._client = openai.OpenAI(
            base_url=target.endpoint,
            api_key=api_key or "not-needed",
            max_retries=0,
            timeout=timeout_s,
        )

    def complete(self, messages: list[dict[str, str]], decoding: dict[str, Any]) -> Completion:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            started = time.perf_counter()
            try:
                response = self._client.chat.completions.create(
                    model=self.target.served_model_name, messages=messages, **decoding
                )
            except _TRANSIENT as error:
                last = error
                continue
            except openai.APIStatusError as error:
                raise EndpointError(
                    f"endpoint {self.target.endpoint} refused the request "
                    f"(HTTP {error.status_code}): {error.message}"
                ) from error
            latency_ms = (time.perf_counter() - started) * 1000
            choice = response.choices[0]
            usage = response.usage
            return Completion(
                output=choice.message.content or "",
                latency_ms=round(latency_ms, 3),
                finish_reason=choice.finish_reason or "",
                completion_tokens=usage.completion_tokens if usage else None,
            )
        raise EndpointError(
            f"endpoint {self.target.endpoint} failed {self.retries + 1} time(s): "
            f"{type(last).__name__}: {last}"
        )
