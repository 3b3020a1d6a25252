"""Vertex AI Pipelines: the pipeline root (staging) bucket and the pipeline identity's rights."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.naming import bucket_name
from infra.storage import private_bucket_args


@dataclass
class VertexArgs:
    pipelines_account: pulumi.Input[str]  # service account resource name (projects/.../...)
    pipelines_member: pulumi.Input[str]
    submitter_member: pulumi.Input[str]  # CI: submits jobs that run as the pipelines identity


class Vertex(pulumi.ComponentResource):
    def __init__(
        self, cfg: StackConfig, args: VertexArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:vertex:Vertex", f"{cfg.prefix}-vertex", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = cfg.prefix
        self.pipeline_root = gcp.storage.Bucket(
            f"{prefix}-pipeline-root",
            name=bucket_name(cfg.gcp.project_id, cfg.project, cfg.environment, "pipelines"),
            lifecycle_rules=[
                {
                    "action": {"type": "Delete"},
                    "condition": {"age": cfg.storage.pipeline_root_ttl_days},
                }
            ],
            **private_bucket_args(cfg, "pipeline-root"),
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{prefix}-pipeline-root-writer",
            bucket=self.pipeline_root.name,
            role="roles/storage.objectAdmin",
            member=args.pipelines_member,
            opts=child,
        )
        gcp.projects.IAMMember(
            f"{prefix}-pipelines-aiplatform-user",
            project=cfg.gcp.project_id,
            role="roles/aiplatform.user",
            member=args.pipelines_member,
            opts=child,
        )
        # CI may start jobs that run as the pipelines identity, and nothing else as it.
        gcp.serviceaccount.IAMMember(
            f"{prefix}-pipelines-act-as",
            service_account_id=args.pipelines_account,
            role="roles/iam.serviceAccountUser",
            member=args.submitter_member,
            opts=child,
        )
        self.pipeline_root_uri = pulumi.Output.concat("gs://", self.pipeline_root.name, "/runs")
        self.register_outputs({"pipeline_root": self.pipeline_root_uri, "region": cfg.gcp.region})
