"""The envelope every rendered object shares: apiVersion, kind, name, namespace, labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.serving.args import APP, ServingOnGkeArgs, track_name
from serving.spec import ServingSpec


def common_labels(args: ServingOnGkeArgs, served_name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/part-of": served_name,
        "app.kubernetes.io/managed-by": "pulumi",
        **args.labels,
    }


def obj(
    api_version: str,
    kind: str,
    name: str,
    args: ServingOnGkeArgs,
    labels: dict[str, str],
    namespaced: bool = True,
    annotations: dict[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespaced:
        metadata["namespace"] = args.namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


@dataclass(frozen=True)
class Track:
    """What a per-track builder needs: the inputs, the serving definition, the track, its labels.
    Every per-track object is named after the track (`vllm-<track>`)."""

    args: ServingOnGkeArgs
    spec: ServingSpec
    track: str
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return track_name(self.track)

    def obj(self, api_version: str, kind: str, **body: Any) -> dict[str, Any]:
        return obj(api_version, kind, self.name, self.args, self.labels, **body)
