"""Drift of a traffic window against the reference: evidently's statistics, our thresholds.

evidently (https://docs.evidentlyai.com/metrics/customize_data_drift) computes the distribution
statistics, each a distance whose threshold lives in policies/gates.yaml `monitoring:`:
  input_length  normed Wasserstein distance of input_chars (distance / reference std)
  text          evidently's text-content drift: a TF-IDF + linear classifier trained to tell
                reference from current text; its ROC AUC (0.5: indistinguishable). This is the
                signal that catches a new language or domain
  label         PSI of the answered labels
Distances, not p-values: with a few hundred requests a p-value flags trivial differences in a
big window and misses real ones in a small one; a distance means the same at every size.
Three rates are compared directly, as differences a person can read: the mean share of words
the training data never had (a normed distance would explode: in-distribution it is ~0 with
no spread, so one typo would count as drift), the refusal rate and the share of answers in an
invalid format. Latency is held to the serving SLO
(serving/serving.yaml monitoring.e2e_p95_seconds), measured from vLLM's own log timestamps.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from policies.gates import MonitoringGates

# evidently's column -> (signal name, method, gates.yaml threshold attribute)
DISTRIBUTIONS = {
    "input_chars": ("input_length", "wasserstein", "input_length_wasserstein"),
    "text": ("text", "abs_text_content_drift", "text_domain_auc"),
    "label": ("label", "psi", "label_psi"),
}


@dataclass(frozen=True)
class Signal:
    name: str
    value: float | None
    threshold: float
    drifted: bool
    method: str
    reference: float | None = None
    current: float | None = None


def _rate(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].mean()) if len(frame) else 0.0


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame, gates: MonitoringGates):
    """evidently's Report over the distribution columns; returns (values by column, snapshot)."""
    # evidently imports slowly (pandas, scipy, sklearn, plotly): only when a window is judged.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(
        numerical_columns=["input_chars"],
        categorical_columns=["label"],
        text_columns=["text"],
    )
    metrics = [
        ValueDrift(column=column, method=method, threshold=getattr(gates, attribute))
        for column, (_, method, attribute) in DISTRIBUTIONS.items()
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas/sklearn deprecation chatter inside evidently
        snapshot = Report(metrics).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    values = {}
    for entry in snapshot.dict()["metrics"]:
        values[entry["config"]["column"]] = float(entry["value"])
    return values, snapshot


def signals(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    latencies_s: list[float],
    gates: MonitoringGates,
    latency_slo_s: float,
    html: Path | None = None,
) -> list[Signal]:
    values, snapshot = evidently_report(reference, current, gates)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
    result = []
    for column, (name, method, attribute) in DISTRIBUTIONS.items():
        threshold = getattr(gates, attribute)
        value = values[column]
        result.append(Signal(name, value, threshold, value > threshold, method))
    for name, column, attribute in (
        ("oov_rate", "oov_rate", "oov_rate_delta"),
        ("refusal_rate", "refused", "refusal_rate_delta"),
        ("format_invalid_rate", "format_valid", "format_invalid_delta"),
    ):
        ref, cur = _rate(reference, column), _rate(current, column)
        if column == "format_valid":  # compare the invalid share
            ref, cur = 1 - ref, 1 - cur
        delta, threshold = cur - ref, getattr(gates, attribute)
        # Refusals drift both ways (more: a new kind of request; fewer: safety slipping).
        drifted = abs(delta) > threshold if column == "refused" else delta > threshold
        result.append(Signal(name, delta, threshold, drifted, "difference", ref, cur))
    latency = p95(latencies_s)
    result.append(
        Signal(
            "latency_p95_s",
            latency,
            latency_slo_s,
            latency is not None and latency > latency_slo_s,
            "serving SLO",
        )
    )
    return result
