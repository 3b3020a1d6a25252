"""Where the serving objects live and who the pods act as: the Namespace and the ServiceAccount
bound to the serving Google SA (Workload Identity)."""

from __future__ import annotations

from typing import Any

from infra.serving.args import ServingOnGkeArgs
from infra.serving.metadata import obj


def namespace(args: ServingOnGkeArgs, labels: dict[str, str]) -> dict[str, Any]:
    return obj("v1", "Namespace", args.namespace, args, labels, namespaced=False)


def service_account(args: ServingOnGkeArgs, labels: dict[str, str]) -> dict[str, Any]:
    return obj(
        "v1",
        "ServiceAccount",
        args.ksa_name,
        args,
        labels,
        annotations={"iam.gke.io/gcp-service-account": args.serving_gsa_email},
        automountServiceAccountToken=False,
    )
