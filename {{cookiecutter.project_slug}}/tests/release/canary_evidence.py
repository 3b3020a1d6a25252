"""Evidence documents in the shape the load and eval stages write, for the gate's unit tests."""

from __future__ import annotations

import copy
from typing import Any

from release.gate import StepEvidence

# What the controller says each side serves; good() stamps it on documents that name no model.
SERVED = {
    "stable": {"model_version": "1", "endpoint": "http://stable/v1"},
    "canary": {"model_version": "2", "endpoint": "http://canary/v1"},
}


def load_summary(
    ttft=120.0, itl=20.0, requests=40, error_rate=0.0, truncation_rate=0.0, e2e=400.0
) -> dict:
    def dist(p95: float) -> dict[str, float]:
        return {"n": requests, "p50": p95 / 2, "p95": p95, "p99": p95 * 1.2}

    return {
        "requests": requests,
        "ok_requests": round(requests * (1 - error_rate)),
        "error_rate": error_rate,
        "truncation_rate": truncation_rate,
        "truncation_gated": True,
        "output_tokens_per_s": 100.0,
        "ttft_ms": dist(ttft),
        "itl_ms": dist(itl),
        "e2e_ms": dist(e2e),
    }


def _row(head: float, delta: float, ci_low: float, n: int, gated: bool = True) -> dict:
    return {
        "gated": gated,
        "base": head - delta,
        "head": head,
        "delta": delta,
        "ci_low": ci_low,
        "ci_high": delta + 0.03,
        "n": n,
    }


def model_block(side: str, **changes: Any) -> dict[str, Any]:
    """`manifest.model` of a `make eval` summary (also copied into compare.json's base/head)."""
    return {**SERVED[side], "served_model_name": "llm-service", **changes}


def compare(delta=0.02, ci_low=-0.01, head=0.9, cases=333) -> dict[str, Any]:
    """The shape `make eval-compare` writes (compare.json), one row per metric in gates.yaml's
    `eval.min_scores` and an ungated latency row."""
    return {
        "comparison": {
            "paired_cases": cases,
            "metrics": {
                "label_accuracy": _row(head, delta, ci_low, cases),
                "format_validity": _row(1.0, 0.0, 0.0, cases),
                "refusal": _row(0.9, 0.01, -0.02, cases),
                "latency": {**_row(95.0, 15.0, 10.0, cases, gated=False), "ci_high": 20.0},
            },
        },
        "gate": {"passed": True, "verdict": "pass"},
    }


def eval_summary(**means: float) -> dict[str, Any]:
    """A `make eval` summary with these metric means (and the min_scores metrics at passing
    values unless given)."""
    scores = {"format_validity": 1.0, "refusal": 0.9, **means}
    return {"cases": [{}] * 333, "metrics": {name: {"mean": m} for name, m in scores.items()}}


def _stamped(document: dict[str, Any] | None, kind: str, side: str) -> dict[str, Any] | None:
    """A copy that names the side it was measured on, unless the test gave it an identity."""
    if document is None:
        return None
    document = copy.deepcopy(document)
    if kind == "load":
        document.setdefault("endpoint", SERVED[side]["endpoint"])
    elif kind == "summary":
        document.setdefault("manifest", {"model": model_block(side)})
    else:  # compare.json: base is stable, head is the canary
        inner = document.setdefault("comparison", {})
        for role, who in (("base", "stable"), ("head", "canary")):
            inner.setdefault(role, {"model": model_block(who)})
    return document


def good(weight: int, **overrides: Any) -> StepEvidence:
    fields: dict[str, Any] = {
        "weight": weight,
        "stable_load": load_summary(),
        "canary_load": load_summary(ttft=130.0, itl=21.0, e2e=420.0),
        "eval_compare": compare(),
        "served": copy.deepcopy(SERVED),
    }
    fields.update(overrides)
    fields["stable_load"] = _stamped(fields["stable_load"], "load", "stable")
    fields["canary_load"] = _stamped(fields["canary_load"], "load", "canary")
    fields["eval_compare"] = _stamped(fields["eval_compare"], "compare", "")
    for side in ("stable", "canary"):
        fields[f"{side}_eval"] = _stamped(fields.get(f"{side}_eval"), "summary", side)
    return StepEvidence(**fields)


def demo_step(weight: int = 10) -> StepEvidence:
    """Step 10 % of a real `make demo` canary, trimmed: the stages' own field names and nesting
    (manifest.model, comparison.base/head.model, e2e_ms, endpoint), its real numbers."""
    stable_url, canary_url = "http://127.0.0.1:18419/v1", "http://127.0.0.1:18218/v1"

    def load(url: str, ttft: float, itl: float, e2e: float, requests: int) -> dict[str, Any]:
        def dist(p95: float) -> dict[str, float]:
            return {"max": p95 * 2, "mean": p95 / 2, "n": requests, "p50": p95 / 2, "p95": p95}

        return {
            "duration_s": 15.0,
            "endpoint": url,
            "model": "llm-service",
            "requests": requests,
            "ok_requests": requests,
            "error_rate": 0.0,
            "truncation_rate": 0.0,
            "truncation_gated": True,
            "output_tokens_per_s": 310.0,
            "ttft_ms": dist(ttft),
            "itl_ms": dist(itl),
            "e2e_ms": dist(e2e),
            "stamp": {"producer": "loadtest"},
        }

    def model(url: str, version: str, side: str) -> dict[str, str]:
        return {
            "endpoint": url,
            "model_root": f"/build/mlflow/artifacts/{side}/artifacts/model",
            "model_version": version,
            "served_model_name": "llm-service",
            "source": f"/build/serving/{side}.json",
        }

    def summary(url: str, version: str, side: str, means: dict[str, float]) -> dict[str, Any]:
        return {
            "cases": [{}] * 473,
            "manifest": {"model": model(url, version, side)},
            "metrics": {
                name: {"gated": name != "latency", "mean": mean, "n": 200}
                for name, mean in means.items()
            },
            "run": {"cases": 473},
            "stamp": {"model_version": version, "producer": "evals"},
        }

    base = {"format_validity": 1.0, "label_accuracy": 0.315, "refusal": 0.57619, "latency": 1.0}
    head = {"format_validity": 1.0, "label_accuracy": 0.59, "refusal": 0.895238, "latency": 1.0}
    lows = {"format_validity": 0.0, "label_accuracy": 0.195, "refusal": 0.242857, "latency": 0.0}
    rows = {
        name: {
            "base": base[name],
            "head": head[name],
            "delta": round(head[name] - base[name], 6),
            "ci_low": lows[name],
            "ci_high": 0.4,
            "gated": name != "latency",
            "n": 200,
        }
        for name in base
    }
    return StepEvidence(
        weight=weight,
        stable_load=load(stable_url, 42.97, 0.01, 43.09, 1452),
        canary_load=load(canary_url, 42.76, 2.78, 42.82, 1603),
        eval_compare={
            "comparison": {
                "base": {"model": model(stable_url, "1", "stable")},
                "head": {"model": model(canary_url, "2", "canary")},
                "metrics": rows,
                "paired_cases": 473,
                "unpaired_cases": [],
            },
            "gate": {"passed": True, "verdict": "pass"},
            "skipped_metrics": {"answer_quality": "skipped: no judge endpoint configured"},
            "stamp": {"producer": "evals.compare"},
        },
        stable_eval=summary(stable_url, "1", "stable", base),
        canary_eval=summary(canary_url, "2", "canary", head),
        served={
            "stable": {"model_version": "1", "endpoint": stable_url},
            "canary": {"model_version": "2", "endpoint": canary_url},
        },
    )


def smoke(**means: float) -> StepEvidence:
    """The canary's smoke eval at weight 0, as `make eval` writes it (passing unless told)."""
    summary = _stamped(eval_summary(label_accuracy=0.9, **means), "summary", "canary")
    return StepEvidence(weight=0, canary_eval=summary, served={"canary": dict(SERVED["canary"])})
