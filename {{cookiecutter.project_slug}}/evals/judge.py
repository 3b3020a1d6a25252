"""LLM-as-judge: deepeval's GEval, scored by any OpenAI-compatible judge with structured output.

Configure with `JUDGE_ENDPOINT` (base URL ending in /v1) and `JUDGE_MODEL` (+ `JUDGE_API_KEY`
when the endpoint needs one), or with deepeval's own local-model settings (`LOCAL_MODEL_BASE_URL`,
`LOCAL_MODEL_NAME`, `LOCAL_MODEL_API_KEY`). Without a judge, judge metrics are skipped and the
report says so: a missing judge never counts as a pass.

Why our own deepeval model class rather than deepeval's `LocalModel`: LocalModel asks at most
for "a JSON object" and parses whatever text comes back, so a judge that wanders off the format
fails the case. `JudgeModel` passes GEval's own answer schema (`ReasonScore`) to the server as a
JSON schema (`response_format: {"type": "json_schema"}`: vLLM's structured outputs, OpenAI's
structured outputs, Vertex AI's OpenAI-compatible endpoint), with the reason bounded so even a
small judge closes its JSON within `max_tokens`. The answer is validated with that schema.

Every (case, judge metric) gets a score or a recorded error: a failed call is retried with
backoff, and after the last try the case is "not scored" for that metric, with the error; the
gate treats a metric with too few scored cases as inconclusive (evals/gate.py). Scores are
cached like answers (evals/cache.py), keyed by the judge's identity (served model name, version
or content digest, root), the metric's evaluation steps, the judge's decoding and the case with
its answer, so a re-run is served from the cache with identical scores. Scoring runs on the
runner's thread pool.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from deepeval.models import DeepEvalBaseLLM

from common.evidence import sha256_text
from evals.cache import ResponseCache

GEVAL, LLAMA_GUARD = "geval", "llama_guard"
JUDGE_KINDS = (GEVAL, LLAMA_GUARD)
# Each kind of model-scored metric has its own endpoint: the judge grades answers, the guard
# (evals/guard.py) says whether an answer is safe.
ENV_PREFIX = {GEVAL: "JUDGE", LLAMA_GUARD: "GUARD"}
NO_JUDGE_NOTICE = (
    "skipped: no judge endpoint configured (set JUDGE_ENDPOINT=<OpenAI-compatible base URL> and "
    "JUDGE_MODEL=<model name>, or deepeval's LOCAL_MODEL_BASE_URL and LOCAL_MODEL_NAME)"
)
NO_GUARD_NOTICE = (
    "skipped: no guard endpoint configured (set GUARD_ENDPOINT=<OpenAI-compatible base URL> and "
    "GUARD_MODEL=<model name>: Llama Guard 3 served like the model, or `make serve-guard`)"
)
NOTICES = {GEVAL: NO_JUDGE_NOTICE, LLAMA_GUARD: NO_GUARD_NOTICE}
# GEval's evaluation prompt is deepeval's: its version is part of the judge's identity.
_DEEPEVAL = metadata.version("deepeval")
GEVAL_MAX = 10


class JudgeError(RuntimeError):
    """One judge call gave no usable score (HTTP error, cut-off or invalid JSON)."""


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is and how it decodes; `identity` is filled in once the endpoint answers."""

    endpoint: str
    model: str
    api_key: str
    seed: int
    max_tokens: int = 512
    reason_max_chars: int = 400
    retries: int = 3
    timeout_s: float = 60.0
    identity: tuple[tuple[str, str], ...] = ()
    kind: str = GEVAL

    @property
    def version_known(self) -> bool:
        """Scores are cached only for a judge whose version is known (as answers are)."""
        return dict(self.identity).get("model_version", "unknown") != "unknown"

    def decoding(self) -> dict[str, Any]:
        return {"temperature": 0.0, "seed": self.seed, "max_tokens": self.max_tokens}

    def key(self) -> dict[str, Any]:
        """What makes two judges score alike: the model (not the URL it is served from), its
        decoding, the answer schema's bound and deepeval's prompt version."""
        return {
            **dict(self.identity),
            "kind": self.kind,
            "decoding": self.decoding(),
            "reason_max_chars": self.reason_max_chars,
            "deepeval": _DEEPEVAL,
        }

    def manifest(self, steps: dict[str, str]) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            **dict(self.identity),
            "kind": self.kind,
            "decoding": self.decoding(),
            "structured_output": "json_schema" if self.kind == GEVAL else "none",
            "deepeval": _DEEPEVAL,
            "identity_sha256": sha256_text(json.dumps(self.key(), sort_keys=True)),
            "steps_sha256": steps,
        }


def judge_from_env(
    seed: int, environ: dict[str, str] | None = None, kind: str = GEVAL
) -> JudgeConfig | None:
    """The judge (`JUDGE_*`, or deepeval's `LOCAL_MODEL_*`) or the guard (`GUARD_*`)."""
    env = os.environ if environ is None else environ
    prefix = ENV_PREFIX[kind]
    local = (lambda name: env.get(f"LOCAL_MODEL_{name}")) if kind == GEVAL else (lambda _: None)
    endpoint = env.get(f"{prefix}_ENDPOINT") or local("BASE_URL") or ""
    model = env.get(f"{prefix}_MODEL") or local("NAME") or ""
    if not endpoint and not model:
        return None
    if not endpoint or not model:
        raise ValueError(
            f"{prefix.lower()} half configured (endpoint={endpoint!r}, model={model!r}): set both "
            f"{prefix}_ENDPOINT and {prefix}_MODEL, or neither"
        )
    api_key = env.get(f"{prefix}_API_KEY") or local("API_KEY") or "not-needed"
    if kind == LLAMA_GUARD:
        from pipelines.guard import MAX_VERDICT_TOKENS

        return JudgeConfig(
            endpoint.rstrip("/"), model, api_key, seed, max_tokens=MAX_VERDICT_TOKENS, kind=kind
        )
    return JudgeConfig(endpoint.rstrip("/"), model, api_key, seed)


def resolve_judge(
    config: JudgeConfig, retries: int, serving_dir: Path | None = None
) -> JudgeConfig:
    """The judge with its identity, from the endpoint's model list (and, for a local server
    started by `make serve`, its model version). An endpoint that lists no models (some hosted
    OpenAI-compatible APIs do not) keeps the configured name and `JUDGE_MODEL_VERSION`; an
    endpoint that cannot be reached at all is an error before any case is run."""
    from evals.client import SERVING_DIR, EndpointError, local_record, probe_models, server_version

    prefix = ENV_PREFIX[config.kind]
    version = os.environ.get(f"{prefix}_MODEL_VERSION", "")
    root = ""
    try:
        models = probe_models(config.endpoint, config.api_key, config.timeout_s)
    except EndpointError as error:
        if not error.reachable:
            raise EndpointError(f"{prefix.lower()}: {error} (check {prefix}_ENDPOINT)") from error
        models = {}
    if models and config.model not in models:
        raise EndpointError(
            f"{prefix.lower()} endpoint {config.endpoint} does not serve "
            f"{prefix}_MODEL={config.model!r} (it serves: {', '.join(models)})"
        )
    root = str(models.get(config.model, {}).get("root") or "")
    record = local_record(config.endpoint, serving_dir or SERVING_DIR)
    if not version and record:
        version = str(record.get("model_digest") or record.get("model_version") or "")
    identity = (
        ("served_model_name", config.model),
        ("model_version", version or "unknown"),
        ("model_root", root),
        ("vllm_version", server_version(config.endpoint, config.timeout_s)),
    )
    return replace(config, identity=identity, retries=retries)


def steps_sha256(params: dict[str, Any]) -> str:
    """The judge metric's definition: its kind, pinned evaluation steps and threshold."""
    fields = {
        "kind": params.get("judge", GEVAL),
        "steps": list(params.get("evaluation_steps") or []),
        "threshold": params.get("threshold", 0.5),
    }
    return sha256_text(json.dumps(fields, sort_keys=True))


def answer_schema(schema: type, reason_max_chars: int) -> dict[str, Any]:
    """GEval's answer model as a JSON schema, bounded so any judge's answer ends: every string
    at `reason_max_chars`, and the score one of the integers GEval's prompt asks for (0-10, its
    range without a rubric; the metrics here use none)."""
    document = schema.model_json_schema()
    for name, prop in document.get("properties", {}).items():
        if prop.get("type") == "string":
            prop["maxLength"] = reason_max_chars
        elif name == "score":
            document["properties"][name] = {"type": "integer", "enum": list(range(GEVAL_MAX + 1))}
    document["additionalProperties"] = False
    return document


class JudgeModel(DeepEvalBaseLLM):
    """deepeval's custom-model interface over an OpenAI-compatible chat endpoint."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        super().__init__(config.model)

    def load_model(self, *args: Any, **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(
            base_url=self.config.endpoint,
            api_key=self.config.api_key,
            max_retries=0,  # retries are ours (score_one), counted and reported
            timeout=self.config.timeout_s,
        )

    def generate(self, prompt: str, schema: type | None = None) -> Any:
        import openai

        kwargs: dict[str, Any] = dict(self.config.decoding())
        if schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema.__name__,
                    "schema": answer_schema(schema, self.config.reason_max_chars),
                    "strict": True,
                },
            }
        try:
            response = self.model.chat.completions.create(
                model=self.config.model, messages=[{"role": "user", "content": prompt}], **kwargs
            )
        except openai.APIError as error:
            raise JudgeError(f"{type(error).__name__}: {error}") from error
        choice = response.choices[0]
        content = choice.message.content or ""
        if choice.finish_reason == "length":
            raise JudgeError(f"answer cut at max_tokens={self.config.max_tokens}: {content[:80]!r}")
        if schema is None:
            return content
        try:
            return schema.model_validate_json(content)
        except ValueError as error:
            raise JudgeError(f"answer is not the schema's JSON: {content[:120]!r}") from error

    async def a_generate(self, prompt: str, schema: type | None = None) -> Any:
        return self.generate(prompt, schema)

    def get_model_name(self, *args: Any, **kwargs: Any) -> str:
        return self.config.model


def build_judge_metric(name: str, params: dict[str, Any], judge: JudgeConfig):
    """A fresh GEval metric with pinned evaluation steps, scored by the configured judge."""
    from deepeval.metrics import GEval
    from deepeval.test_case import SingleTurnParams

    return GEval(
        name=name,
        evaluation_steps=list(params["evaluation_steps"]),
        evaluation_params=[
            SingleTurnParams.INPUT,
            SingleTurnParams.ACTUAL_OUTPUT,
            SingleTurnParams.EXPECTED_OUTPUT,
        ],
        model=JudgeModel(judge),
        threshold=float(params.get("threshold", 0.5)),
        async_mode=False,
        verbose_mode=False,
    )


@dataclass(frozen=True)
class JudgeJob:
    """One judge metric on one answered case."""

    case_key: str
    metric: str
    params: dict[str, Any]
    input: str
    expected: str
    output: str

    def cache_key(self, judge: JudgeConfig) -> str:
        fields = {
            "kind": "judge",
            "judge": judge.key(),
            "metric": self.metric,
            "steps": steps_sha256(self.params),
            "case": [self.case_key, self.input, self.expected, self.output],
        }
        return sha256_text(json.dumps(fields, sort_keys=True))


@dataclass(frozen=True)
class JudgeScore:
    score: float | None
    reason: str
    error: str = ""
    attempts: int = 0
    cached: bool = False


def geval_score(job: JudgeJob, judge: JudgeConfig) -> tuple[float, str]:
    """GEval's score in [0, 1] and its reason; raises on any failure."""
    from deepeval.test_case import LLMTestCase

    case = LLMTestCase(input=job.input, actual_output=job.output, expected_output=job.expected)
    metric = build_judge_metric(job.metric, job.params, judge)
    metric.measure(case, _show_indicator=False)
    score = metric.score
    if score is None or not 0 <= score <= 1:
        raise JudgeError(f"score {score!r} outside [0, 1] (0-{GEVAL_MAX} before GEval scales it)")
    return float(score), metric.reason or ""


def score_one(job: JudgeJob, judge: JudgeConfig, backoff_s: float = 0.5) -> JudgeScore:
    """The judge's (or guard's) score in [0, 1] with its reason, or after the retries the last
    error."""
    from evals.guard import guard_score

    scorer = guard_score if judge.kind == LLAMA_GUARD else geval_score
    last = ""
    for attempt in range(judge.retries + 1):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), 8.0))
        try:
            score, reason = scorer(job, judge)
        except Exception as error:  # deepeval wraps the model's errors in its own types
            last = f"{type(error).__name__}: {error}"
            continue
        return JudgeScore(round(score, 6), reason, attempts=attempt + 1)
    return JudgeScore(None, "", error=last, attempts=judge.retries + 1)


def score_all(
    jobs: list[JudgeJob], judge: JudgeConfig, cache: ResponseCache, concurrency: int
) -> dict[tuple[str, str], JudgeScore]:
    """Every job's score, from the cache where it holds one; failures are recorded, not cached.
    A judge of unknown version is never cached: its scores could be another model's."""
    if not judge.version_known:
        cache = ResponseCache(cache.root, enabled=False)
    results: dict[tuple[str, str], JudgeScore] = {}
    todo = []
    for job in jobs:
        hit = cache.get(job.cache_key(judge))
        if hit is None:
            todo.append(job)
        else:
            results[(job.case_key, job.metric)] = JudgeScore(
                hit["score"], hit["reason"], cached=True
            )

    def call(job: JudgeJob) -> tuple[JudgeJob, JudgeScore]:
        result = score_one(job, judge)
        if result.score is not None:
            cache.put(job.cache_key(judge), {"score": result.score, "reason": result.reason})
        return job, result

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="judge") as pool:
        for job, result in pool.map(call, todo):
            results[(job.case_key, job.metric)] = result
    return results
