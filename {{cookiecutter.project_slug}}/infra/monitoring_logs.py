"""The request-log export: vLLM's request/response lines, routed from Cloud Logging to BigQuery.

On GKE every container's stdout reaches Cloud Logging as `k8s_container` entries. A project sink
copies exactly the vLLM containers' stdout of this stack's cluster into a dataset of its own,
where `make monitor STACK=...` reads a time window. Prompts are personal data, so the dataset
expires what it holds after `monitoring.log_retention_days` (policy request-log-retention caps
it), and only the sink (to write) and the monitor identity (to read) are granted on it.

Contracts (infra/README.md "Request logs"): the filter fields are the `k8s_container` resource
labels, `logName` and the structured payload's `logger` (Cloud Logging query language,
cloud.google.com/logging/docs/view/logging-query-language; a JSON line on stdout becomes the
entry's jsonPayload on GKE); the sink's writer identity needs BigQuery Data Editor on the dataset
(logging/docs/export/configure_export_v2#dest-auth); with partitioned tables the entries of log
`stdout` go to one table `stdout`, partitioned by `timestamp` (logging/docs/export/bigquery),
and the dataset's default partition expiration becomes that table's partition expiration,
overriding the default table expiration (BigQuery Dataset `defaultPartitionExpirationMs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from serving.request_log import LOGGER as REQUEST_LOGGER

# The container name every vLLM Deployment in infra/serving/ gives its server (tests check it).
VLLM_CONTAINER = "vllm"
# The request log is written to stdout (serving/request_log.py); GKE names that log `stdout`,
# and the sink names its table after the log.
LOG_ID = "stdout"
PURPOSE = "request-logs"  # the label policy request-log-retention looks for
DAY_MS = 24 * 60 * 60 * 1000


def request_log_filter(project_id: str, cluster_name: str, namespace: str) -> str:
    """Exactly the request-log lines of the vLLM containers in this stack's cluster.

    The cluster is named because stacks may share a GCP project, each with its own `llm`. Only
    the request logger's JSON lines (jsonPayload.logger) are exported: vLLM's other log lines
    share stdout but the monitor needs none of them (keep no more personal data than used).
    """
    return "\n".join(
        (
            'resource.type="k8s_container"',
            f'resource.labels.cluster_name="{cluster_name}"',
            f'resource.labels.namespace_name="{namespace}"',
            f'resource.labels.container_name="{VLLM_CONTAINER}"',
            f'logName="projects/{project_id}/logs/{LOG_ID}"',
            f'jsonPayload.logger="{REQUEST_LOGGER}"',
        )
    )


def dataset_id(prefix: str) -> str:
    """BigQuery dataset ids take letters, digits and underscores only."""
    return f"{prefix}_request_logs".replace("-", "_")


@dataclass
class RequestLogsArgs:
    cluster_name: pulumi.Input[str]
    readers: list[pulumi.Input[str]]  # IAM members that may query the logs (the monitor)


class RequestLogs(pulumi.ComponentResource):
    def __init__(
        self, cfg: StackConfig, args: RequestLogsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:monitoring:RequestLogs", f"{cfg.prefix}-request-logs", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix, project = cfg.prefix, cfg.gcp.project_id
        self.retention_days = cfg.log_retention_days
        retention_ms = self.retention_days * DAY_MS
        self.dataset = gcp.bigquery.Dataset(
            f"{prefix}-request-logs-dataset",
            project=project,
            dataset_id=dataset_id(prefix),
            location=cfg.gcp.region,  # the logs stay in the region the model serves from
            description=(
                f"vLLM request/response logs of {cfg.project} ({cfg.environment}), kept"
                f" {self.retention_days} days (personal data: infra/README.md)"
            ),
            # Partitioned tables (the sink's) expire by partition; any other table as a whole.
            default_partition_expiration_ms=retention_ms,
            default_table_expiration_ms=retention_ms,
            delete_contents_on_destroy=cfg.storage.force_destroy,
            labels={**cfg.cost_labels(), "purpose": PURPOSE},
            opts=child,
        )
        self.sink = gcp.logging.ProjectSink(
            f"{prefix}-vllm-requests",
            project=project,
            name=f"{prefix}-vllm-requests",
            description="vLLM request/response logs for the monitor (infra/monitoring_logs.py)",
            destination=pulumi.Output.concat(
                "bigquery.googleapis.com/projects/", project, "/datasets/", self.dataset.dataset_id
            ),
            filter=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: request_log_filter(project, cluster, cfg.serving.namespace)
            ),
            # A service agent of its own to grant on the dataset; BigQuery options need it.
            unique_writer_identity=True,
            bigquery_options={"use_partitioned_tables": True},
            opts=child,
        )
        gcp.bigquery.DatasetIamMember(
            f"{prefix}-request-logs-writer",
            project=project,
            dataset_id=self.dataset.dataset_id,
            role="roles/bigquery.dataEditor",
            member=self.sink.writer_identity,
            opts=child,
        )
        for i, who in enumerate(args.readers):
            gcp.bigquery.DatasetIamMember(
                f"{prefix}-request-logs-reader-{i}",
                project=project,
                dataset_id=self.dataset.dataset_id,
                role="roles/bigquery.dataViewer",
                member=who,
                opts=child,
            )
        # What a query names: `project.dataset.stdout`, partitioned by `timestamp`.
        self.table = pulumi.Output.concat(project, ".", self.dataset.dataset_id, ".", LOG_ID)
        self.register_outputs(
            {
                "dataset": self.dataset.dataset_id,
                "table": self.table,
                "sink_writer": self.sink.writer_identity,
                "retention_days": self.retention_days,
            }
        )
