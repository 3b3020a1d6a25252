"""Project services (APIs) the program needs, enabled and never disabled on destroy."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

BASE_APIS = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",  # the request-log export (infra/monitoring_logs.py)
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
)
VERTEX_APIS = ("aiplatform.googleapis.com",)


def required_apis(cfg: StackConfig) -> list[str]:
    return sorted({*BASE_APIS, *(VERTEX_APIS if cfg.vertex.enabled else ())})


class Services(pulumi.ComponentResource):
    """Enables the APIs. Other stacks in the same project may rely on them, so destroying a stack
    leaves them on (`disable_on_destroy=False`)."""

    def __init__(self, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmops:services:Services", f"{cfg.prefix}-services", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.apis = {
            api: gcp.projects.Service(
                f"{cfg.prefix}-api-{api.split('.')[0]}",
                project=cfg.gcp.project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in required_apis(cfg)
        }
        self.register_outputs({"apis": sorted(self.apis)})
