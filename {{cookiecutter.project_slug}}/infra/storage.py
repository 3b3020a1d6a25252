"""Artifact Registry for container images and the versioned, private model bucket."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.naming import bucket_name


def private_bucket_args(cfg: StackConfig, purpose: str) -> dict:
    """Settings every bucket shares: IAM-only access, never public, cost labels."""
    return {
        "project": cfg.gcp.project_id,
        "location": cfg.gcp.region,
        "uniform_bucket_level_access": True,
        "public_access_prevention": cfg.storage.public_access_prevention,
        "force_destroy": cfg.storage.force_destroy,
        "labels": {**cfg.cost_labels(), "purpose": purpose},
    }


@dataclass
class StorageArgs:
    model_readers: list[pulumi.Input[str]]  # IAM members (serving)
    model_writers: list[pulumi.Input[str]]  # IAM members (pipelines, CI)
    image_readers: list[pulumi.Input[str]]  # nodes pull images
    image_writers: list[pulumi.Input[str]]  # CI pushes images


class Storage(pulumi.ComponentResource):
    def __init__(
        self, cfg: StackConfig, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:storage:Storage", f"{cfg.prefix}-storage", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = cfg.prefix
        registry = cfg.artifact_registry
        self.registry = gcp.artifactregistry.Repository(
            f"{prefix}-images",
            project=cfg.gcp.project_id,
            location=cfg.gcp.region,
            repository_id=f"{prefix}-{registry.repository_id}",
            format="DOCKER",
            description=f"Container images of {cfg.project} ({cfg.environment})",
            # A released tag always means the same image.
            docker_config={"immutable_tags": registry.immutable_tags},
            labels=cfg.cost_labels(),
            opts=child,
        )
        self.registry_url = pulumi.Output.concat(
            cfg.gcp.region, "-docker.pkg.dev/", cfg.gcp.project_id, "/", self.registry.repository_id
        )
        self.model_bucket = gcp.storage.Bucket(
            f"{prefix}-models",
            name=bucket_name(cfg.gcp.project_id, cfg.project, cfg.environment, "models"),
            versioning={"enabled": cfg.storage.model_bucket_versioning},
            lifecycle_rules=[
                {
                    "action": {"type": "Delete"},
                    "condition": {
                        "num_newer_versions": cfg.storage.model_versions_kept,
                        "with_state": "ARCHIVED",
                    },
                }
            ],
            **private_bucket_args(cfg, "models"),
            opts=child,
        )
        for i, who in enumerate(args.model_readers):
            gcp.storage.BucketIAMMember(
                f"{prefix}-models-reader-{i}",
                bucket=self.model_bucket.name,
                role="roles/storage.objectViewer",
                member=who,
                opts=child,
            )
        for i, who in enumerate(args.model_writers):
            gcp.storage.BucketIAMMember(
                f"{prefix}-models-writer-{i}",
                bucket=self.model_bucket.name,
                role="roles/storage.objectAdmin",
                member=who,
                opts=child,
            )
        for role, members, kind in (
            ("roles/artifactregistry.reader", args.image_readers, "reader"),
            ("roles/artifactregistry.writer", args.image_writers, "writer"),
        ):
            for i, who in enumerate(members):
                gcp.artifactregistry.RepositoryIamMember(
                    f"{prefix}-images-{kind}-{i}",
                    project=cfg.gcp.project_id,
                    location=cfg.gcp.region,
                    repository=self.registry.repository_id,
                    role=role,
                    member=who,
                    opts=child,
                )
        self.register_outputs(
            {"model_bucket": self.model_bucket.name, "registry_url": self.registry_url}
        )
