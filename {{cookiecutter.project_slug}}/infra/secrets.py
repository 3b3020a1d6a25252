"""The model-hub token in Secret Manager, readable by the serving identity only.

The program declares the secret, never its value: add it once with
`gcloud secrets versions add <id> --data-file=-` (see infra/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig


@dataclass
class SecretsArgs:
    serving_member: pulumi.Input[str]


class Secrets(pulumi.ComponentResource):
    def __init__(
        self, cfg: StackConfig, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmops:secrets:Secrets", f"{cfg.prefix}-secrets", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.hub_token = gcp.secretmanager.Secret(
            f"{cfg.prefix}-hub-token",
            project=cfg.gcp.project_id,
            secret_id=f"{cfg.prefix}-hub-token",
            replication={"auto": {}},
            labels={**cfg.cost_labels(), "purpose": "model-hub-token"},
            opts=child,
        )
        self.hub_token_reader = gcp.secretmanager.SecretIamMember(
            f"{cfg.prefix}-hub-token-serving",
            project=cfg.gcp.project_id,
            secret_id=self.hub_token.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=args.serving_member,
            opts=child,
        )
        self.register_outputs({"hub_token_secret": self.hub_token.secret_id})
