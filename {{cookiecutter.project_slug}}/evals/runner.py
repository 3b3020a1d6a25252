"""Run the suite against one model: generate (bounded concurrency, cached), score, summarise.

The result is one document (summary.json): the run manifest (what produced the numbers), the
mean of every metric, the per-case answers and scores (the comparison pairs on these), and the
metrics that were skipped with the reason. It holds nothing that changes between two runs of the
same model on the same inputs except the stamp's time and the `run` timings, so two runs can be
compared for identity.
"""

from __future__ import annotations

import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from deepeval.test_case import LLMTestCase

from common.evidence import git_sha
from evals.cache import ResponseCache, cache_key
from evals.client import Completion, ModelClient, Target
from evals.goldens import Dataset, Golden
from evals.judge import NO_JUDGE_NOTICE, JudgeConfig, build_judge_metric
from evals.metrics import build_metric, metric_class
from evals.suite import Suite

PACKAGES = ("deepeval", "openai", "mlflow-skinny", "pydantic")


class EvalError(RuntimeError):
    """A metric could not score a case (for example, the judge failed)."""


@dataclass(frozen=True)
class _Job:
    dataset: Dataset
    case: Golden
    messages: list[dict[str, str]]
    key: str


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def manifest(suite: Suite, target: Target, judge: JudgeConfig | None) -> dict[str, Any]:
    return {
        "git_sha": git_sha(),
        "suite": {"path": str(suite.path), "sha256": suite.sha256},
        "datasets": {d.name: d.manifest() for d in suite.datasets},
        "prompt": suite.prompt.manifest(),
        "model": target.manifest(),
        "decoding": suite.decoding.model_dump(),
        "judge": judge.manifest() if judge else None,
        "packages": package_versions(),
    }


def generate(
    suite: Suite,
    client: ModelClient,
    cache: ResponseCache,
    concurrency: int,
) -> tuple[dict[str, Completion], int]:
    """Answers for every case, keyed by dataset/id; returns them and how many came from cache."""
    decoding = suite.decoding.model_dump()
    target = client.target
    jobs = [
        _Job(
            dataset,
            case,
            suite.prompt.render(case.input),
            cache_key(
                target.served_model_name,
                target.model_version,
                suite.prompt.sha256,
                f"{dataset.name}/{case.id}",
                case.input_sha256,
                decoding,
                target.model_root,
            ),
        )
        for dataset in suite.datasets
        for case in dataset.cases
    ]
    answers: dict[str, Completion] = {}
    todo: list[_Job] = []
    for job in jobs:
        hit = cache.get(job.key)
        if hit is None:
            todo.append(job)
        else:
            answers[f"{job.dataset.name}/{job.case.id}"] = Completion(**hit["completion"])

    def call(job: _Job) -> tuple[_Job, Completion]:
        completion = client.complete(job.messages, decoding)
        cache.put(job.key, {"completion": completion.__dict__, "case": job.case.id})
        return job, completion

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    try:
        for job, completion in pool.map(call, todo):
            answers[f"{job.dataset.name}/{job.case.id}"] = completion
    finally:
        # On the first failure, drop what has not started: the endpoint is down.
        pool.shutdown(wait=True, cancel_futures=True)
    return answers, len(jobs) - len(todo)


def score_case(
    suite: Suite, dataset: Dataset, case: Golden, answer: Completion, judge: JudgeConfig | None
) -> tuple[dict[str, float], dict[str, str]]:
    test_case = LLMTestCase(
        input=case.input,
        actual_output=answer.output,
        expected_output=case.expected_output,
        metadata=case.metadata,
        completion_time=answer.latency_ms / 1000,
    )
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for name in suite.metrics_for(dataset.name):
        params = suite.metric_params(name)
        if suite.is_judge(name):
            if judge is None:
                continue
            metric = build_judge_metric(name, params, judge)
            try:
                metric.measure(test_case, _show_indicator=False)
            except Exception as error:
                raise EvalError(
                    f"judge metric '{name}' failed on case {dataset.name}/{case.id} "
                    f"(judge {judge.endpoint}, model {judge.model}): {error}"
                ) from error
        else:
            metric = build_metric(name, params)
            metric.measure(test_case)
        if metric.score is None:
            continue
        scores[name] = round(float(metric.score), 6)
        reasons[name] = metric.reason or ""
    return scores, reasons


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarise_metrics(suite: Suite, cases: list[dict[str, Any]]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for name in suite.config.metrics:
        values = [c["scores"][name] for c in cases if name in c["scores"]]
        if not values:
            continue
        datasets = sorted({c["dataset"] for c in cases if name in c["scores"]})
        judge = suite.is_judge(name)
        metric_cls = None if judge else metric_class(name, suite.metric_params(name))
        metrics[name] = {
            "mean": round(statistics.fmean(values), 6),
            "n": len(values),
            "datasets": datasets,
            "gated": metric_cls.gated if metric_cls else True,
            "judge": judge,
        }
    return metrics


def run_suite(
    suite: Suite,
    client: ModelClient,
    cache: ResponseCache,
    judge: JudgeConfig | None,
    concurrency: int | None = None,
    cache_note: str = "",
) -> dict[str, Any]:
    started = time.perf_counter()
    workers = concurrency or suite.config.runner.concurrency
    answers, cached = generate(suite, client, cache, workers)
    generated_s = time.perf_counter() - started
    cases: list[dict[str, Any]] = []
    for dataset in suite.datasets:
        for case in dataset.cases:
            answer = answers[f"{dataset.name}/{case.id}"]
            scores, reasons = score_case(suite, dataset, case, answer, judge)
            cases.append(
                {
                    "key": f"{dataset.name}/{case.id}",
                    "dataset": dataset.name,
                    "id": case.id,
                    "category": case.category,
                    "input_sha256": case.input_sha256,
                    "input": case.input,
                    "expected": case.expected_output,
                    "output": answer.output,
                    "finish_reason": answer.finish_reason,
                    "latency_ms": answer.latency_ms,
                    "scores": scores,
                    "reasons": reasons,
                }
            )
    skipped = {}
    if judge is None:
        skipped = {
            name: NO_JUDGE_NOTICE
            for name in suite.config.metrics
            if suite.is_judge(name)
            and any(name in suite.metrics_for(d.name) for d in suite.datasets)
        }
    latencies = [c["latency_ms"] for c in cases]
    return {
        "manifest": manifest(suite, client.target, judge),
        "metrics": summarise_metrics(suite, cases),
        "skipped_metrics": skipped,
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 3),
            "p95": round(_percentile(latencies, 0.95), 3),
            "max": round(max(latencies, default=0.0), 3),
        },
        "cases": cases,
        "run": {
            "cases": len(cases),
            "cached": cached,
            "fresh": len(cases) - cached,
            "concurrency": workers,
            "cache": cache_note or ("on" if cache.enabled else "off"),
            "generate_seconds": round(generated_s, 3),
            "seconds": round(time.perf_counter() - started, 3),
        },
    }
