"""The server's own view of a load test, from vLLM's Prometheus `/metrics` endpoint.

We scrape before and after the run and take the difference, so earlier traffic does not count.
The TTFT histogram (`vllm:time_to_first_token_seconds`) cross-checks the client's TTFT: if the
client sees much more than the server, the load generator or the network is adding latency.
The inter-token histogram (`vllm:inter_token_latency_seconds`, one observation per engine step
that gave a request new tokens, vllm/v1/metrics/stats.py) is compared with the client's per-token
ITL the same way: a reported comparison, not a gate.
"""

from __future__ import annotations

import math
import re
import urllib.error
import urllib.request
from typing import Any

TTFT = "vllm:time_to_first_token_seconds"
ITL = "vllm:inter_token_latency_seconds"
SUCCESS = "vllm:request_success_total"
PRE_ENGINE_ALLOWANCE_MS = 15.0
# Client and engine ITL means both span first to last token, so they differ only by delivery
# jitter at the two ends spread over the answer; 1 ms absorbs that for short, fast answers.
ITL_TOLERANCE = 0.2
ITL_ALLOWANCE_MS = 1.0
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition format -> (name, labels, value) samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, _, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        samples.append((name, dict(_LABEL.findall(labels or "")), number))
    return samples


def histogram(samples: list, name: str, model: str | None = None) -> dict[str, Any]:
    """Buckets (upper bound -> cumulative count), sum and count, added over label sets."""
    buckets: dict[float, float] = {}
    total = {"sum": 0.0, "count": 0.0}
    for metric, labels, value in samples:
        if model is not None and labels.get("model_name", model) != model:
            continue
        if metric == f"{name}_bucket":
            bound = math.inf if labels["le"] in ("+Inf", "inf") else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        elif metric == f"{name}_sum":
            total["sum"] += value
        elif metric == f"{name}_count":
            total["count"] += value
    return {"buckets": dict(sorted(buckets.items())), **total}


def counter(samples: list, name: str, model: str | None = None) -> float:
    return sum(
        value
        for metric, labels, value in samples
        if metric == name and (model is None or labels.get("model_name", model) == model)
    )


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {
        "buckets": {b: c - before["buckets"].get(b, 0.0) for b, c in after["buckets"].items()},
        "sum": after["sum"] - before["sum"],
        "count": after["count"] - before["count"],
    }


def quantile(hist: dict[str, Any], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding q."""
    buckets = sorted(hist["buckets"].items())
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # as Prometheus does: the highest finite bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def quantile_bucket(hist: dict[str, Any], q: float) -> tuple[float, float] | None:
    """The bounds (seconds) of the bucket holding quantile q: all a histogram can say of it."""
    buckets = sorted(hist["buckets"].items())
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound = 0.0
    for bound, count in buckets:
        if count >= rank:
            return lower_bound, bound
        lower_bound = bound
    return lower_bound, math.inf


def metrics_url(endpoint: str) -> str:
    """`http://host:port/v1` -> `http://host:port/metrics` (vLLM serves both on one port)."""
    base = endpoint.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/metrics"


def scrape(endpoint: str, timeout: float = 10.0) -> list | None:
    """The server's samples, or None where /metrics is not exposed (e.g. behind a gateway)."""
    try:
        with urllib.request.urlopen(metrics_url(endpoint), timeout=timeout) as response:
            return parse(response.read().decode("utf-8", errors="replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def server_view(before: list | None, after: list | None, model: str | None) -> dict[str, Any]:
    """What the server measured during the run: TTFT and ITL histogram deltas, finished requests."""
    if before is None or after is None:
        return {"available": False, "reason": "the endpoint does not expose /metrics"}
    ttft = delta(histogram(after, TTFT, model), histogram(before, TTFT, model))
    if ttft["count"] <= 0:
        return {"available": False, "reason": f"{TTFT} did not move during the run"}
    itl = delta(histogram(after, ITL, model), histogram(before, ITL, model))
    return {
        "available": True,
        "requests_finished": counter(after, SUCCESS, model) - counter(before, SUCCESS, model),
        "ttft_ms": _summary_ms(ttft),
        # JSON keys: the bucket bounds as Prometheus writes them ("0.02", "+Inf").
        "ttft_buckets": {
            ("+Inf" if math.isinf(b) else f"{b:g}"): c for b, c in ttft["buckets"].items()
        },
        "itl_ms": _summary_ms(itl) if itl["count"] > 0 else None,
    }


def _summary_ms(hist: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": int(hist["count"]),
        "mean": 1000 * hist["sum"] / hist["count"],
        "p50": _ms(quantile(hist, 0.50)),
        "p95": _ms(quantile(hist, 0.95)),
        "p50_bucket": [_ms(b) for b in quantile_bucket(hist, 0.50) or ()],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def cross_check(client_ttft: dict[str, Any], server: dict[str, Any], tolerance: float) -> dict:
    """Compare client-side TTFT with the server's histogram (means: the buckets are coarse)."""
    if not server.get("available") or client_ttft.get("mean") is None:
        return {"status": "unavailable", "reason": server.get("reason", "no client TTFT")}
    client, engine = client_ttft["mean"], server["ttft_ms"]["mean"]
    ratio = client / engine if engine > 0 else math.inf
    # The histogram starts once the engine has the request: HTTP parsing, the chat template and
    # tokenisation come before it. vLLM's own benchmark client reads 8-10 ms (1.25-1.3x) above it
    # on a small CPU server (bench/load_vs_vllm_bench.py), hence an absolute allowance too.
    agrees = abs(client - engine) <= max(tolerance * engine, PRE_ENGINE_ALLOWANCE_MS)
    return {
        "status": "ok" if agrees else "warn",
        "client_mean_ms": client,
        "server_mean_ms": engine,
        "ratio": ratio,
        "tolerance": tolerance,
    }


def cross_check_itl(client_itl: dict[str, Any], server: dict[str, Any]) -> dict:
    """Compare the client's per-token ITL mean with the engine's inter-token histogram."""
    engine = (server.get("itl_ms") or {}).get("mean") if server.get("available") else None
    if engine is None or client_itl.get("mean") is None:
        reason = server.get("reason") or f"{ITL} did not move, or no client ITL"
        return {"status": "unavailable", "reason": reason}
    client = client_itl["mean"]
    agrees = abs(client - engine) <= max(ITL_TOLERANCE * engine, ITL_ALLOWANCE_MS)
    return {
        "status": "ok" if agrees else "warn",
        "client_mean_ms": client,
        "client_p50_ms": client_itl.get("p50"),
        "server_mean_ms": engine,
        "server_p50_ms": server["itl_ms"]["p50"],
        "ratio": client / engine if engine > 0 else math.inf,
        "tolerance": ITL_TOLERANCE,
    }
