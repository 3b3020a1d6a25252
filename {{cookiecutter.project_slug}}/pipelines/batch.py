"""Batch inference: score a JSONL file with vLLM's offline engine (`vllm.LLM`).

What the batch component (pipelines/batch_pipeline.py) runs, as plain functions:

  read_requests   every input line checked first; all problems reported as `line N: ...`
  resolve         the model: a registry reference or directory (as `make serve` resolves it), or
                  a version published to the model bucket (its MANIFEST.json gives version/digest)
  score           vllm.LLM built from the serving definition's engine arguments, parsed by the
                  vLLM server's own argument parser (serving/spec.py: local or GKE arguments), so
                  the offline engine is configured exactly as the online one
  write_outputs   predictions.jsonl, then summary.json last; nothing is written before every
                  answer exists, and each file is replaced atomically

Input lines: {"id": ..., "input": "a user message"} or {"id": ..., "messages": [chat messages]};
`id` is optional (the line number stands in). Both go through the model's chat template with the
generation prompt, as the OpenAI server does for /v1/chat/completions, and the decoding is the
server's: the model's generation_config defaults (vLLM's `--generation-config auto`) overridden by
the request's temperature and max_tokens. So greedy batch answers equal greedy online answers.
Paths are local or gs:// (through MLflow's artifact repositories, the library that publishes
models, with the caller's Google credentials).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.evidence import sha256_text, stamp, write_atomic, write_json
from common.model_digest import manifest_digest, model_digest

PREDICTIONS = "predictions.jsonl"
SUMMARY = "summary.json"
MANIFEST = "MANIFEST.json"  # written by pipelines/publish_model.py
FIELDS = ("id", "input", "messages")
ROLES = ("system", "user", "assistant")
MAX_PROBLEMS = 20  # report this many bad lines, then a count of the rest
EXAMPLE = '{"id": "q1", "input": "where is my parcel?"}'


class BatchInputError(ValueError):
    """The input cannot be scored; the message names every bad line (exit 2, nothing written)."""


@dataclass(frozen=True)
class BatchRequest:
    line: int
    id: str | int
    input: str | list[dict[str, str]]  # as given: a message, or the chat messages

    @property
    def messages(self) -> list[dict[str, str]]:
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return self.input


# ---------------------------------------------------------------- input
def _message_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return '"messages" must be a non-empty list of {"role": ..., "content": ...}'
    for index, message in enumerate(messages):
        where = f'"messages"[{index}]'
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return f'{where} must be an object with exactly "role" and "content"'
        if message["role"] not in ROLES:
            return f"{where}.role={message['role']!r}: use one of {', '.join(ROLES)}"
        if not isinstance(message["content"], str) or not message["content"].strip():
            return f"{where}.content must be a non-empty string"
    if messages[-1]["role"] != "user":
        return '"messages" must end with a "user" message (the one to answer)'
    return None


def _line_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"expected a JSON object such as {EXAMPLE}"
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}: allowed are {', '.join(FIELDS)}"
    ident = item.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
        return '"id" must be a string or an integer'
    if isinstance(ident, str) and not ident.strip():
        return '"id" must not be empty (leave it out to use the line number)'
    if ("input" in item) == ("messages" in item):
        return 'give exactly one of "input" (a message) or "messages" (a chat)'
    if "input" in item and (not isinstance(item["input"], str) or not item["input"].strip()):
        return '"input" must be a non-empty string'
    return _message_problem(item["messages"]) if "messages" in item else None


def parse_requests(text: str, source: str = "input") -> list[BatchRequest]:
    """Every request of a JSONL text; raises BatchInputError naming every bad line."""
    requests: list[BatchRequest] = []
    problems: list[str] = []
    seen: dict[str | int, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue  # blank lines (e.g. a trailing newline) carry no request
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
            continue
        problem = _line_problem(item)
        ident = item.get("id") if problem is None else None
        if ident is not None and ident in seen:
            problem = f'"id" {ident!r} is already used on line {seen[ident]}: ids must be unique'
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        if ident is not None:
            seen[ident] = number
        value = item["input"] if "input" in item else item["messages"]
        requests.append(BatchRequest(number, ident if ident is not None else number, value))
    if problems:
        more = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise BatchInputError(
            f"{source}: {len(problems)} bad line(s), nothing was scored:\n  " + "\n  ".join(shown)
        )
    if not requests:
        raise BatchInputError(f"{source}: no requests (one JSON object per line, e.g. {EXAMPLE})")
    return requests


def read_text(uri: str) -> str:
    """A local file or a gs:// object, as text."""
    if uri.startswith("gs://"):
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        parent, _, name = uri.rstrip("/").rpartition("/")
        with tempfile.TemporaryDirectory() as scratch:
            try:
                path = get_artifact_repository(parent).download_artifacts(name, scratch)
            except Exception as error:  # no such object, no credentials, no access
                raise BatchInputError(f"INPUT={uri}: cannot read it: {error}") from error
            return Path(path).read_text()
    path = Path(uri)
    if not path.is_file():
        raise BatchInputError(f"INPUT={uri}: no such file (give a JSONL file or gs://BUCKET/PATH)")
    return path.read_text()


def read_requests(uri: str) -> tuple[list[BatchRequest], str]:
    """The requests of the input and the input's sha256."""
    text = read_text(uri)
    return parse_requests(text, uri), sha256_text(text)


def check_lengths(requests: list[BatchRequest], model_dir: Path, max_model_len: int) -> None:
    """Every prompt must leave room for an answer in the context; names every line that does not.
    Rendered with the model's chat template, as vLLM renders it (text, then tokens)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not tokenizer.chat_template:
        raise BatchInputError(f"{model_dir}: the tokenizer has no chat template to render with")
    problems = []
    for request in requests:
        text = tokenizer.apply_chat_template(
            request.messages, tokenize=False, add_generation_prompt=True
        )
        tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if tokens >= max_model_len:
            problems.append(
                f"line {request.line}: the prompt is {tokens} tokens, the context "
                f"max_model_len={max_model_len} (serving/serving.yaml engine): shorten it"
            )
    if problems:
        raise BatchInputError(
            f"{len(problems)} prompt(s) too long, nothing was scored:\n  " + "\n  ".join(problems)
        )


# ---------------------------------------------------------------- model
def resolve(ref: str) -> dict[str, Any]:
    """The model to score with: dir, version and content digest (common/model_digest.py)."""
    if ref.startswith("gs://") or (Path(ref) / MANIFEST).is_file():
        return _resolve_published(ref.rstrip("/"))
    from serving.local import ServeError, resolve_model

    try:
        return resolve_model(ref)  # registry reference or directory, exactly as `make serve`
    except ServeError as error:
        raise BatchInputError(str(error)) from error


def _resolve_published(uri: str) -> dict[str, Any]:
    """A version published by pipelines/publish_model.py: fetched if remote, checked against its
    manifest (a prefix without MANIFEST.json is an interrupted publish and is refused)."""
    local = Path(uri)
    if uri.startswith("gs://"):
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        local = Path(tempfile.mkdtemp(prefix="batch-model-"))
        try:
            get_artifact_repository(uri).download_artifacts("", str(local))
        except Exception as error:  # no such prefix, no credentials, no access
            raise BatchInputError(f"MODEL={uri}: cannot fetch it: {error}") from error
    if not (local / MANIFEST).is_file():
        raise BatchInputError(f"MODEL={uri}: no {MANIFEST}: not a (complete) published version")
    manifest = json.loads((local / MANIFEST).read_text())
    digest = manifest_digest(manifest)
    if model_digest(local) != digest:
        raise BatchInputError(f"MODEL={uri}: the files do not match {MANIFEST}; publish it again")
    return {
        "model_dir": str(local),
        "model_ref": uri,
        "model_version": str(manifest["version"]),
        "model_digest": digest,
        "registered_model": manifest["model"],
    }


# ---------------------------------------------------------------- scoring
def engine_argv(spec: Any, model_dir: str, served_name: str, gpus: int) -> list[str]:
    """The online server's arguments for this machine: GKE's on GPUs, `make serve`'s on the CPU."""
    if gpus:
        return spec.gke_args(model_dir, served_name, gpus)
    return spec.local_args(model_dir, served_name, port=0)


def build_engine(model_dir: str, served_name: str, gpus: int) -> Any:
    """vllm.LLM with the engine arguments the server parses from the same command line."""
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from serving.spec import load_spec

    spec = load_spec()
    if not gpus:
        for name, value in spec.local_env().items():  # the CPU KV cache size, as for `make serve`
            os.environ.setdefault(name, value)
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(
        engine_argv(spec, model_dir, served_name, gpus)
    )
    # Server-only flags (host, port, request logging) are not engine fields: from_cli_args keeps
    # the engine's. LLM.from_engine_args is vLLM's own constructor for exactly this.
    engine_args = EngineArgs.from_cli_args(args)
    engine_args.disable_log_stats = True
    return LLM.from_engine_args(engine_args)


def sampling_params(llm: Any, temperature: float, max_tokens: int) -> Any:
    """The server's rule: request values over the model's generation_config defaults
    (vllm ChatCompletionRequest.to_sampling_params; vLLM's offline example
    `offline_inference/basic`: `--generation-config auto` feeds get_default_sampling_params)."""
    from vllm import SamplingParams

    defaults = llm.model_config.get_diff_sampling_param()
    return SamplingParams.from_optional(
        **{**defaults, "temperature": temperature, "max_tokens": max_tokens}
    )


def score(
    llm: Any, requests: list[BatchRequest], temperature: float, max_tokens: int
) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """One answer per request, in input order; returns (rows, seconds, decoding)."""
    params = sampling_params(llm, temperature, max_tokens)
    started = time.perf_counter()
    # LLM.chat applies the model's chat template with add_generation_prompt=True, as the server.
    outputs = llm.chat([r.messages for r in requests], params, use_tqdm=False)
    seconds = time.perf_counter() - started
    rows = []
    for request, output in zip(requests, outputs, strict=True):
        answer = output.outputs[0]
        rows.append(
            {
                "id": request.id,
                "line": request.line,
                "input": request.input,
                "output": answer.text,
                "finish_reason": answer.finish_reason,
                "prompt_tokens": len(output.prompt_token_ids or []),
                "completion_tokens": len(answer.token_ids),
            }
        )
    decoding = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "max_tokens": params.max_tokens,
        "repetition_penalty": params.repetition_penalty,
    }
    return rows, seconds, decoding


def gpu_count() -> int:
    """GPUs this process sees: the accelerators Vertex attached, 0 for the CPU build."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


# ---------------------------------------------------------------- outputs
def write_outputs(output_uri: str, rows: list[dict], summary: dict) -> dict[str, Any]:
    """predictions.jsonl, then summary.json: a summary means the predictions beside it are
    complete. Local files are replaced atomically; each gs:// object lands whole."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    summary = {
        **summary,
        "outputs": {
            "predictions": f"{output_uri}/{PREDICTIONS}",
            "predictions_sha256": sha256_text(text),
            "summary": f"{output_uri}/{SUMMARY}",
        },
    }
    if not output_uri.startswith("gs://"):
        out = Path(output_uri)
        (out / SUMMARY).unlink(missing_ok=True)  # a stale summary must not vouch for new rows
        write_atomic(out / PREDICTIONS, text)
        write_json(out / SUMMARY, summary)
        return summary
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(output_uri)
    with tempfile.TemporaryDirectory() as scratch:
        write_atomic(Path(scratch) / PREDICTIONS, text)
        write_json(Path(scratch) / SUMMARY, summary)
        repo.log_artifact(str(Path(scratch) / PREDICTIONS))
        repo.log_artifact(str(Path(scratch) / SUMMARY))
    return summary


def batch_step(
    input_uri: str, output_uri: str, model: str, max_tokens: int, temperature: float = 0.0
) -> dict[str, Any]:
    """Validate, score, write; returns the summary. Raises BatchInputError before any work."""
    from serving.spec import load_spec

    spec = load_spec()
    requests, input_sha = read_requests(input_uri)
    resolved = resolve(model)
    check_lengths(requests, Path(resolved["model_dir"]), spec.engine.max_model_len)
    served_name, gpus = spec.served_name(), gpu_count()
    started = time.perf_counter()
    llm = build_engine(resolved["model_dir"], served_name, gpus)
    engine_seconds = time.perf_counter() - started
    rows, seconds, decoding = score(llm, requests, temperature, max_tokens)
    completion = sum(r["completion_tokens"] for r in rows)
    prompt = sum(r["prompt_tokens"] for r in rows)
    import vllm

    summary = {
        "stamp": stamp(
            "pipelines.batch",
            model_version=resolved["model_version"],
            model_digest=resolved["model_digest"],
        ),
        "input": {"uri": input_uri, "sha256": input_sha},
        "model": {k: v for k, v in resolved.items() if k != "model_dir"},
        "served_model_name": served_name,
        "engine": {
            "vllm": vllm.__version__,
            "device": f"{gpus} GPU(s)" if gpus else "cpu",
            # What shapes the answers besides the weights, as serving.local records it.
            "answer_args": spec.engine_args("<model>", served_name),
            "start_seconds": round(engine_seconds, 2),
        },
        "decoding": decoding,
        "counts": {
            "requests": len(rows),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "finish_reasons": dict(Counter(r["finish_reason"] for r in rows)),
        },
        "throughput": {
            "seconds": round(seconds, 3),
            "requests_per_s": round(len(rows) / seconds, 2),
            "output_tokens_per_s": round(completion / seconds, 1),
            "total_tokens_per_s": round((prompt + completion) / seconds, 1),
        },
    }
    return write_outputs(output_uri.rstrip("/"), rows, summary)
