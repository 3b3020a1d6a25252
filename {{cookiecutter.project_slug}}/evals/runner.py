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
from evals import leakage
from evals.cache import ResponseCache, cache_key
from evals.client import Completion, ModelClient, Target
from evals.goldens import Dataset, Golden
from evals.judge import (
    GEVAL,
    LLAMA_GUARD,
    NOTICES,
    JudgeConfig,
    JudgeJob,
    score_all,
    steps_sha256,
)
from evals.metrics import build_metric, is_gated
from evals.suite import Suite

PACKAGES = ("deepeval", "openai", "mlflow-skinny", "pydantic")


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


def judge_kind(suite: Suite, name: str) -> str:
    return str(suite.metric_params(name)["judge"])


def judged_metrics(suite: Suite, kind: str | None = None) -> list[str]:
    """The model-scored metrics the suite runs on some dataset (of one kind, if given)."""
    return [
        name
        for name in suite.config.metrics
        if suite.is_judge(name)
        and (kind is None or judge_kind(suite, name) == kind)
        and any(name in suite.metrics_for(d.name) for d in suite.datasets)
    ]


def manifest(
    suite: Suite, target: Target, judges: dict[str, JudgeConfig] | None = None
) -> dict[str, Any]:
    def scorer(kind: str) -> dict[str, Any] | None:
        config = (judges or {}).get(kind)
        steps = {n: steps_sha256(suite.metric_params(n)) for n in judged_metrics(suite, kind)}
        return config.manifest(steps) if config else None

    return {
        "git_sha": git_sha(),
        "suite": {"path": str(suite.path), "sha256": suite.sha256},
        "datasets": {d.name: d.manifest() for d in suite.datasets},
        "leakage": leakage.report(suite),
        "prompt": suite.prompt.manifest(),
        "model": target.manifest(),
        "decoding": suite.decoding.model_dump(),
        "judge": scorer(GEVAL),
        "guard": scorer(LLAMA_GUARD),
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
                target.identity(),
                suite.prompt.sha256,
                f"{dataset.name}/{case.id}",
                case.input_sha256,
                decoding,
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
    suite: Suite, dataset: Dataset, case: Golden, answer: Completion
) -> tuple[dict[str, float], dict[str, str]]:
    """The deterministic metrics' scores and reasons (judge metrics are scored by judge.py)."""
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
        if suite.is_judge(name):
            continue
        metric = build_metric(name, suite.metric_params(name))
        metric.measure(test_case)
        if metric.score is None:
            continue
        scores[name] = round(float(metric.score), 6)
        reasons[name] = metric.reason or ""
    return scores, reasons


def judge_cases(
    suite: Suite,
    cases: list[dict[str, Any]],
    judges: dict[str, JudgeConfig],
    cache: ResponseCache,
    concurrency: int,
) -> int:
    """Score the model-scored metrics of each configured kind into `cases` (scores, reasons, or
    `judge_errors` per metric); returns how many scores came from the cache."""
    from_cache = 0
    by_key = {c["key"]: c for c in cases}
    for kind, judge in sorted(judges.items()):
        names = set(judged_metrics(suite, kind))
        jobs = [
            JudgeJob(c["key"], n, suite.metric_params(n), c["input"], c["expected"], c["output"])
            for c in cases
            for n in suite.metrics_for(c["dataset"])
            if n in names
        ]
        results = score_all(jobs, judge, cache, concurrency)
        for (key, name), result in sorted(results.items()):
            case = by_key[key]
            if result.score is None:
                case.setdefault("judge_errors", {})[name] = result.error
            else:
                case["scores"][name] = result.score
                case["reasons"][name] = result.reason
        from_cache += sum(1 for r in results.values() if r.cached)
    return from_cache


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
        metrics[name] = {
            "mean": round(statistics.fmean(values), 6),
            "n": len(values),
            "datasets": datasets,
            "gated": is_gated(name, suite.metric_params(name)),
            "judge": judge,
        }
        if judge:
            errors = [c for c in cases if name in c.get("judge_errors", {})]
            metrics[name]["not_scored"] = len(errors)
            metrics[name]["judge_kind"] = judge_kind(suite, name)
    # A judge metric no case could be scored on still reports how many it failed on.
    for name in suite.config.metrics:
        failed = [c for c in cases if name in c.get("judge_errors", {})]
        if failed and name not in metrics:
            metrics[name] = {
                "mean": None,
                "n": 0,
                "datasets": sorted({c["dataset"] for c in failed}),
                "gated": True,
                "judge": True,
                "judge_kind": judge_kind(suite, name),
                "not_scored": len(failed),
            }
    return metrics


def run_suite(
    suite: Suite,
    client: ModelClient,
    cache: ResponseCache,
    judges: dict[str, JudgeConfig] | None,
    concurrency: int | None = None,
    cache_note: str = "",
    judge_cache: ResponseCache | None = None,
) -> dict[str, Any]:
    """`judges`: the configured scorer per kind (evals/judge.py JUDGE_KINDS); the metrics of a
    kind with none are skipped, with the reason."""
    judges = judges or {}
    started = time.perf_counter()
    workers = concurrency or suite.config.runner.concurrency
    answers, cached = generate(suite, client, cache, workers)
    generated_s = time.perf_counter() - started
    cases: list[dict[str, Any]] = []
    for dataset in suite.datasets:
        for case in dataset.cases:
            answer = answers[f"{dataset.name}/{case.id}"]
            scores, reasons = score_case(suite, dataset, case, answer)
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
    judged_from_cache = judge_cases(suite, cases, judges, judge_cache or cache, workers)
    skipped = {
        name: NOTICES[judge_kind(suite, name)]
        for name in judged_metrics(suite)
        if judge_kind(suite, name) not in judges
    }
    latencies = [c["latency_ms"] for c in cases]
    return {
        "manifest": manifest(suite, client.target, judges),
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
            "judge_cached": judged_from_cache,
            "concurrency": workers,
            "cache": cache_note or ("on" if cache.enabled else "off"),
            "generate_seconds": round(generated_s, 3),
            "seconds": round(time.perf_counter() - started, 3),
        },
    }
