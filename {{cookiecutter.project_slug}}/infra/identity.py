"""Service accounts with least roles, Workload Identity for serving, WIF for GitHub. No keys.

- nodes: what a GKE node needs (logs, metrics, image pulls are granted on the registry);
- serving: no project role; reads the model bucket and the hub-token secret (granted there);
- pipelines: runs Vertex AI pipeline jobs (roles granted in infra/vertex.py), impersonated
  from GitHub Actions by train.yml, which submits them;
- ci: what `pulumi up` of this program needs, impersonated from GitHub Actions only;
- monitor: runs BigQuery queries and reads the request-log dataset only (granted there, in
  infra/monitoring_logs.py), impersonated from GitHub Actions (monitor.yml);
- metrics: reads Cloud Monitoring for the custom-metrics adapter the vLLM HPA scales through
  (infra/metrics_adapter.py), by Workload Identity.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig
from infra.metrics_adapter import ksa_member as adapter_ksa_member
from infra.naming import fit

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ROLES = {
    "nodes": ["roles/container.defaultNodeServiceAccount"],
    "serving": [],
    "pipelines": ["roles/logging.logWriter"],
    # Query jobs run in the project; the data it may read is granted on one dataset.
    "monitor": ["roles/bigquery.jobUser"],
    "metrics": ["roles/monitoring.viewer"],
    # Admin of exactly the services this program manages; never roles/owner or roles/editor.
    "ci": [
        "roles/artifactregistry.admin",
        # The request-log dataset and its IAM (infra/monitoring_logs.py), and the log sink.
        "roles/bigquery.dataOwner",
        "roles/logging.configWriter",
        "roles/compute.networkAdmin",
        "roles/compute.securityAdmin",
        "roles/container.admin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/secretmanager.admin",
        "roles/serviceusage.serviceUsageAdmin",
        "roles/storage.admin",
        "roles/aiplatform.user",
        "roles/monitoring.editor",
    ],
}
DESCRIPTIONS = {
    "nodes": "GKE node identity",
    "serving": "vLLM serving workload (Workload Identity)",
    "pipelines": "Vertex AI training pipelines",
    "ci": "GitHub Actions deployer (Workload Identity Federation)",
    "monitor": "GitHub Actions drift monitor, reads request logs (Workload Identity Federation)",
    "metrics": "custom-metrics adapter for the HPA (Workload Identity)",
}
# Identities GitHub Actions may impersonate, each only from github.repository: ci (main.yml,
# release.yml), pipelines (train.yml submits as it), monitor (monitor.yml).
GITHUB_IDENTITIES = ("ci", "pipelines", "monitor")


def member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    return account.email.apply(lambda email: f"serviceAccount:{email}")


class Identity(pulumi.ComponentResource):
    def __init__(self, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmops:identity:Identity", f"{cfg.prefix}-identity", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, prefix = cfg.gcp.project_id, cfg.prefix

        self.accounts: dict[str, gcp.serviceaccount.Account] = {}
        for role_name, description in DESCRIPTIONS.items():
            account = gcp.serviceaccount.Account(
                f"{prefix}-sa-{role_name}",
                project=project,
                account_id=fit(prefix, role_name, 30),
                display_name=f"{cfg.project} {cfg.environment}: {description}",
                opts=child,
            )
            self.accounts[role_name] = account
            roles = ROLES[role_name] + cfg.identity.extra_roles.get(role_name, [])
            for role in roles:
                gcp.projects.IAMMember(
                    f"{prefix}-{role_name}-{role.rsplit('/', 1)[-1].replace('.', '-')}",
                    project=project,
                    role=role,
                    member=member(account),
                    opts=child,
                )

        # The serving pods' Kubernetes service account acts as the serving identity.
        self.serving_ksa_member = (
            f"serviceAccount:{project}.svc.id.goog"
            f"[{cfg.serving.namespace}/{cfg.serving.service_account}]"
        )
        gcp.serviceaccount.IAMMember(
            f"{prefix}-serving-workload-identity",
            service_account_id=self.accounts["serving"].name,
            role="roles/iam.workloadIdentityUser",
            member=self.serving_ksa_member,
            opts=child,
        )

        # The custom-metrics adapter's Kubernetes service account acts as the metrics identity.
        gcp.serviceaccount.IAMMember(
            f"{prefix}-metrics-workload-identity",
            service_account_id=self.accounts["metrics"].name,
            role="roles/iam.workloadIdentityUser",
            member=adapter_ksa_member(project),
            opts=child,
        )

        # GitHub Actions -> short-lived tokens for the CI identity, only from this repository.
        self.pool = gcp.iam.WorkloadIdentityPool(
            f"{prefix}-github-pool",
            project=project,
            workload_identity_pool_id=fit(prefix, "github", 32),
            display_name=fit(cfg.project, "github", 32),
            description=f"GitHub Actions of {cfg.github.repository}",
            opts=child,
        )
        self.github_provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{prefix}-github-provider",
            project=project,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            display_name="GitHub Actions",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.repository_owner": "assertion.repository_owner",
                "attribute.ref": "assertion.ref",
                "attribute.actor": "assertion.actor",
            },
            # Without a condition any GitHub repository could mint tokens from this pool.
            attribute_condition=f"assertion.repository == '{cfg.github.repository}'",
            oidc={"issuer_uri": GITHUB_ISSUER},
            opts=child,
        )
        self.ci_principal = self.pool.name.apply(
            lambda pool: (
                f"principalSet://iam.googleapis.com/{pool}"
                f"/attribute.repository/{cfg.github.repository}"
            )
        )
        for name in GITHUB_IDENTITIES:
            gcp.serviceaccount.IAMMember(
                f"{prefix}-{name}-wif-user",
                service_account_id=self.accounts[name].name,
                role="roles/iam.workloadIdentityUser",
                member=self.ci_principal,
                opts=child,
            )
        # CI creates node pools that run as the nodes identity (actAs on that account only).
        gcp.serviceaccount.IAMMember(
            f"{prefix}-ci-act-as-nodes",
            service_account_id=self.accounts["nodes"].name,
            role="roles/iam.serviceAccountUser",
            member=member(self.accounts["ci"]),
            opts=child,
        )
        self.register_outputs(
            {
                **{f"{name}_email": account.email for name, account in self.accounts.items()},
                "github_provider": self.github_provider.name,
            }
        )

    def email(self, name: str) -> pulumi.Output[str]:
        return self.accounts[name].email

    def member(self, name: str) -> pulumi.Output[str]:
        return member(self.accounts[name])
