"""monitoring_logs: the vLLM request-log sink to BigQuery, its retention and who may read it."""

from __future__ import annotations

import pulumi
import pytest
from infra_helpers import STACKS, config_from, of_type, run_recorded, stack_values

from infra.config import DEFAULT_LOG_RETENTION_DAYS, ConfigError, load_stack_config
from infra.monitoring_logs import (
    DAY_MS,
    VLLM_CONTAINER,
    RequestLogs,
    RequestLogsArgs,
    dataset_id,
    request_log_filter,
)
from infra.naming import fit
from infra.plan import record_stack, resource_rows
from infra.program import build, export
from infra.recording import MOCK_PROJECT_NUMBER, record

MONITOR = "serviceAccount:monitor@x"
WRITER = f"serviceAccount:service-{MOCK_PROJECT_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com"
DATASET = "gcp:bigquery/dataset:Dataset"
SINK = "gcp:logging/projectSink:ProjectSink"
DATASET_IAM = "gcp:bigquery/datasetIamMember:DatasetIamMember"


def test_request_logs(dev):
    rec = run_recorded(
        dev, lambda: RequestLogs(dev, RequestLogsArgs(cluster_name="c1", readers=[MONITOR]))
    )
    assert rec[f"{dev.prefix}-request-logs"].type == "llmops:monitoring:RequestLogs"
    (dataset,) = [r.inputs for r in of_type(rec, DATASET)]
    assert dataset["datasetId"] == dataset_id(dev.prefix)
    assert dataset_id("llm-service-dev") == "llm_service_dev_request_logs"  # ids: no hyphens
    assert dataset["location"] == dev.gcp.region
    retention = dev.log_retention_days * DAY_MS
    assert dataset["defaultPartitionExpirationMs"] == retention
    assert dataset["defaultTableExpirationMs"] == retention
    assert dataset["labels"] == {**dev.cost_labels(), "purpose": "request-logs"}

    (sink,) = [r.inputs for r in of_type(rec, SINK)]
    assert sink["destination"] == (
        f"bigquery.googleapis.com/projects/{dev.gcp.project_id}/datasets/{dataset['datasetId']}"
    )
    assert sink["filter"] == request_log_filter(dev.gcp.project_id, "c1", dev.serving.namespace)
    assert sink["uniqueWriterIdentity"] is True
    assert sink["bigqueryOptions"] == {"usePartitionedTables": True}

    grants = {
        (g.inputs["role"], g.inputs["member"], g.inputs["datasetId"])
        for g in of_type(rec, DATASET_IAM)
    }
    assert grants == {  # the sink writes, the monitor reads, nobody else is granted here
        ("roles/bigquery.dataEditor", WRITER, dataset["datasetId"]),
        ("roles/bigquery.dataViewer", MONITOR, dataset["datasetId"]),
    }


def test_the_filter_is_exactly_the_vllm_containers_stdout():
    lines = request_log_filter("p-123456", "llm-service-prod", "llm").splitlines()
    assert lines == [
        'resource.type="k8s_container"',
        'resource.labels.cluster_name="llm-service-prod"',
        'resource.labels.namespace_name="llm"',
        'resource.labels.container_name="vllm"',
        'logName="projects/p-123456/logs/stdout"',
        'jsonPayload.logger="vllm.entrypoints.serve.utils.request_logger"',
    ]


def test_the_filter_matches_the_lines_the_server_writes():
    """serving/request_log.py writes each request-log record as one JSON line whose `logger`
    field is what the filter selects; vLLM's other lines stay plain text (no jsonPayload)."""
    import json
    import logging

    from serving.request_log import LOGGER, RequestLogFormatter

    formatter = RequestLogFormatter()
    message, args = "Received request %s: params: %s, lora_request: %s.", ("r-1", "{}", None)
    record = logging.LogRecord(LOGGER, logging.INFO, "x", 1, message, args, None)
    assert json.loads(formatter.format(record))["logger"] in request_log_filter("p", "c", "n")
    other = logging.LogRecord("vllm.engine", logging.INFO, "x", 1, "Engine started", (), None)
    assert not formatter.format(other).startswith("{")


def test_the_program_routes_the_containers_it_deploys():
    """The sink's filter names the cluster, namespace and container the program itself creates:
    renaming any of them in infra/serving/ or the stack breaks this test, not the export."""
    cfg = load_stack_config("dev")
    rows = {r["name"]: r for r in resource_rows(record_stack(cfg))}
    (sink,) = [r for r in rows.values() if r["type"] == SINK]
    (cluster,) = [r for r in rows.values() if r["type"] == "gcp:container/cluster:Cluster"]
    deployments = [
        r
        for r in rows.values()
        if r["type"] == "kubernetes:apps/v1:Deployment"
        and r["inputs"]["metadata"].get("namespace") == cfg.serving.namespace
    ]
    assert deployments
    for deployment in deployments:
        meta, pod = deployment["inputs"]["metadata"], deployment["inputs"]["spec"]["template"]
        servers = [
            c
            for c in pod["spec"]["containers"]
            if "vllm.entrypoints.openai.api_server" in " ".join(c.get("command", []))
        ]
        assert [c["name"] for c in servers] == [VLLM_CONTAINER], deployment["name"]
        assert meta["namespace"] == cfg.serving.namespace
    assert sink["inputs"]["filter"] == request_log_filter(
        cfg.gcp.project_id, cluster["inputs"]["name"], cfg.serving.namespace
    )
    writer = next(r for r in rows.values() if r["name"].endswith("-request-logs-writer"))
    assert writer["inputs"]["member"] == WRITER  # the sink's identity, not dropped by mocks
    reader = next(r for r in rows.values() if r["name"].endswith("-request-logs-reader-0"))
    assert reader["inputs"]["member"] == (
        f"serviceAccount:{fit(cfg.prefix, 'monitor', 30)}@{cfg.gcp.project_id}"
        ".iam.gserviceaccount.com"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs_the_monitor_reads(stack, monkeypatch):
    cfg = load_stack_config(stack)
    seen: dict = {}

    def capture(name, value):
        pulumi.Output.from_input(value).apply(lambda v: seen.__setitem__(name, v))

    monkeypatch.setattr(pulumi, "export", capture)
    record(cfg.project, cfg.stack, cfg.gcp.project_id, lambda: export(build(cfg)))
    dataset = dataset_id(cfg.prefix)
    assert seen["request_logs_dataset"] == dataset
    assert seen["request_logs_table"] == f"{cfg.gcp.project_id}.{dataset}.stdout"
    assert seen["request_logs_retention_days"] == cfg.log_retention_days
    assert seen["request_logs_sink_writer"] == WRITER
    assert seen["monitor_service_account"] == (
        f"{fit(cfg.prefix, 'monitor', 30)}@{cfg.gcp.project_id}.iam.gserviceaccount.com"
    )


def test_retention_comes_from_the_stack_or_the_default():
    assert load_stack_config("prod").log_retention_days == 30
    values = stack_values("dev")
    values.pop("monitoring", None)
    assert config_from(values).log_retention_days == DEFAULT_LOG_RETENTION_DAYS
    values["monitoring"] = {"log_retention_days": 3}
    assert config_from(values).log_retention_days == 3


@pytest.mark.parametrize("bad", [0, -1, 3651, "30", "30d", 1.5, True, None])
def test_bad_retention_is_refused_naming_the_key(bad):
    values = stack_values("dev")
    values["monitoring"] = {"log_retention_days": bad}
    if bad is None:  # an explicit null is "not set": the default
        assert config_from(values).log_retention_days == DEFAULT_LOG_RETENTION_DAYS
        return
    with pytest.raises(ConfigError) as caught:
        config_from(values)
    message = str(caught.value)
    assert f"monitoring.log_retention_days={bad!r}" in message, message
    assert "personal data" in message and "Remove the key" in message


def test_unknown_monitoring_key_is_refused():
    values = stack_values("dev")
    values["monitoring"] = {"retention_days": 30}
    with pytest.raises(ConfigError, match=r"monitoring\.retention_days"):
        config_from(values)
