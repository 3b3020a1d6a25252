"""What watches the pods: the PodMonitoring scrape (Managed Prometheus), and the Cloud Monitoring
dashboard and alert rules over it (pure: the component declares them)."""

from __future__ import annotations

import json
from typing import Any

from infra.serving.args import APP, PORT_NAME, ServingOnGkeArgs
from infra.serving.metadata import obj
from serving.spec import ServingSpec


def pod_monitoring(args: ServingOnGkeArgs, labels: dict[str, str]) -> dict[str, Any]:
    """Scrape every vLLM pod's /metrics, labelled with its track."""
    return obj(
        "monitoring.googleapis.com/v1",
        "PodMonitoring",
        APP,
        args,
        labels,
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/name": APP}},
            "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "15s"}],
            "targetLabels": {"fromPod": [{"from": "llmops/track", "to": "track"}]},
        },
    )


def _namespace_filter(namespace: str) -> str:
    return f'namespace="{namespace}"'


def alert_rules(spec: ServingSpec, namespace: str) -> dict[str, tuple[str, str]]:
    """Alert name -> (PromQL that is non-empty while firing, what to do). Current vLLM names."""
    ns = _namespace_filter(namespace)
    mon = spec.monitoring
    window = "5m"
    return {
        "ttft-p95": (
            f"histogram_quantile(0.95, sum by (le, track) (rate("
            f"vllm:time_to_first_token_seconds_bucket{{{ns}}}[{window}])))"
            f" > {mon.ttft_p95_seconds}",
            "Time to first token p95 above the SLO: check queue depth and KV-cache usage; scale "
            "out (serving.max_replicas) or roll back the canary.",
        ),
        "e2e-latency-p95": (
            f"histogram_quantile(0.95, sum by (le, track) (rate("
            f"vllm:e2e_request_latency_seconds_bucket{{{ns}}}[{window}]))) > {mon.e2e_p95_seconds}",
            "End-to-end request latency p95 above the SLO.",
        ),
        "error-ratio": (
            f'sum by (track) (rate(http_requests_total{{{ns},status="5xx"}}[{window}])) / '
            f"sum by (track) (rate(http_requests_total{{{ns}}}[{window}])) > {mon.error_ratio}",
            "More than the allowed share of HTTP 5xx answers: read the pod logs; roll back a "
            "canary (make canary BACKEND=gke) before investigating.",
        ),
        "queue-depth": (
            f"max by (track) (vllm:num_requests_waiting{{{ns}}}) > {mon.queue_depth}",
            "Requests are queueing faster than replicas are added: check the HPA and the GPU "
            "node pool's max nodes and quota.",
        ),
        "kv-cache-usage": (
            f"max by (track) (vllm:kv_cache_usage_perc{{{ns}}}) > {mon.kv_cache_usage}",
            "The KV cache is nearly full (requests get preempted): lower max_model_len or "
            "max_num_seqs, or use a larger GPU.",
        ),
    }


def dashboard_json(spec: ServingSpec, namespace: str, title: str) -> str:
    """A Cloud Monitoring dashboard (PromQL widgets over Managed Prometheus), per track."""
    ns = _namespace_filter(namespace)

    def widget(name: str, query: str) -> dict[str, Any]:
        return {
            "title": name,
            "xyChart": {
                "dataSets": [{"timeSeriesQuery": {"prometheusQuery": query}, "plotType": "LINE"}],
            },
        }

    def quantile(metric: str, q: float) -> str:
        return f"histogram_quantile({q}, sum by (le, track) (rate({metric}_bucket{{{ns}}}[5m])))"

    widgets = [
        widget(
            "Requests/s by track", f"sum by (track) (rate(vllm:request_success_total{{{ns}}}[5m]))"
        ),
        widget("TTFT p50 (s)", quantile("vllm:time_to_first_token_seconds", 0.5)),
        widget("TTFT p95 (s)", quantile("vllm:time_to_first_token_seconds", 0.95)),
        widget("Inter-token latency p95 (s)", quantile("vllm:inter_token_latency_seconds", 0.95)),
        widget("E2E latency p95 (s)", quantile("vllm:e2e_request_latency_seconds", 0.95)),
        widget(
            "Output tokens/s", f"sum by (track) (rate(vllm:generation_tokens_total{{{ns}}}[5m]))"
        ),
        widget("Waiting requests", f"sum by (track) (vllm:num_requests_waiting{{{ns}}})"),
        widget("Running requests", f"sum by (track) (vllm:num_requests_running{{{ns}}})"),
        widget("KV-cache usage", f"max by (track) (vllm:kv_cache_usage_perc{{{ns}}})"),
        widget(
            "HTTP 5xx/s", f'sum by (track) (rate(http_requests_total{{{ns},status="5xx"}}[5m]))'
        ),
    ]
    tiles = [
        {"xPos": (i % 2) * 24, "yPos": (i // 2) * 16, "width": 24, "height": 16, "widget": w}
        for i, w in enumerate(widgets)
    ]
    return json.dumps(
        {"displayName": title, "mosaicLayout": {"columns": 48, "tiles": tiles}}, sort_keys=True
    )
