"""Evidence documents in the shape the load and eval stages write, for the gate's unit tests."""

from __future__ import annotations

from typing import Any

from release.gate import StepEvidence


def load_summary(ttft=120.0, itl=20.0, requests=40, error_rate=0.0, truncation_rate=0.0) -> dict:
    return {
        "requests": requests,
        "error_rate": error_rate,
        "truncation_rate": truncation_rate,
        "ttft_ms": {"p50": ttft / 2, "p95": ttft, "p99": ttft * 1.2},
        "itl_ms": {"p50": itl / 2, "p95": itl, "p99": itl * 1.2},
    }


def compare(delta=0.02, ci_low=-0.01, head=0.9, cases=333) -> dict[str, Any]:
    """The shape `make eval-compare` writes (compare.json)."""
    return {
        "comparison": {
            "paired_cases": cases,
            "metrics": {
                "label_accuracy": {
                    "gated": True,
                    "base": head - delta,
                    "head": head,
                    "delta": delta,
                    "ci_low": ci_low,
                    "ci_high": delta + 0.03,
                    "n": cases,
                },
                "latency": {
                    "gated": False,
                    "base": 80.0,
                    "head": 95.0,
                    "delta": 15.0,
                    "ci_low": 10.0,
                    "ci_high": 20.0,
                    "n": cases,
                },
            },
        },
        "gate": {"passed": True, "verdict": "pass"},
    }


def good(weight: int, **overrides: Any) -> StepEvidence:
    fields: dict[str, Any] = {
        "weight": weight,
        "stable_load": load_summary(),
        "canary_load": load_summary(ttft=130.0, itl=21.0),
        "eval_compare": compare(),
    }
    fields.update(overrides)
    return StepEvidence(**fields)
