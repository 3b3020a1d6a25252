"""One gate check: the shape every eval gate (evals/gate.py, categories.py, leakage.py) reports."""

from __future__ import annotations

from typing import Any


def check(
    metric: str, kind: str, value: Any, threshold: Any, passed: bool, note: str = ""
) -> dict[str, Any]:
    return {
        "metric": metric,
        "check": kind,
        "value": value,
        "threshold": threshold,
        "passed": bool(passed),
        "note": note,
    }
