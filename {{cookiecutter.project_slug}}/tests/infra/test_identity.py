"""identity: service accounts with least roles, Workload Identity, GitHub WIF; no keys."""

from infra_helpers import of_type, run_recorded

from infra.identity import ROLES, Identity
from infra.naming import fit

PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def test_identity(dev):
    rec = run_recorded(dev, lambda: Identity(dev))
    component = rec[f"{dev.prefix}-identity"]
    assert component.type == "llmops:identity:Identity"
    accounts = of_type(rec, "gcp:serviceaccount/account:Account")
    assert {a.inputs["accountId"] for a in accounts} == {
        fit(dev.prefix, n, 30)
        for n in ("nodes", "serving", "pipelines", "ci", "monitor", "metrics")
    }
    assert all(6 <= len(a.inputs["accountId"]) <= 30 for a in accounts)
    grants = of_type(rec, "gcp:projects/iAMMember:IAMMember")
    assert {g.inputs["role"] for g in grants}.isdisjoint(PRIMITIVE)
    serving_email = f"{fit(dev.prefix, 'serving', 30)}@{dev.gcp.project_id}.iam.gserviceaccount.com"
    serving_sa = f"serviceAccount:{serving_email}"
    assert not [g for g in grants if g.inputs["member"] == serving_sa]  # granted on resources only
    assert len(grants) == sum(len(roles) for roles in ROLES.values())
    assert not of_type(rec, "gcp:serviceaccount/key:Key")

    wi = rec[f"{dev.prefix}-serving-workload-identity"].inputs
    assert wi["role"] == "roles/iam.workloadIdentityUser"
    assert wi["member"] == (
        f"serviceAccount:{dev.gcp.project_id}.svc.id.goog"
        f"[{dev.serving.namespace}/{dev.serving.service_account}]"
    )
    assert wi["serviceAccountId"].endswith(serving_email)

    provider = rec[f"{dev.prefix}-github-provider"].inputs
    assert provider["attributeCondition"] == f"assertion.repository == '{dev.github.repository}'"
    assert provider["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    assert (
        provider["workloadIdentityPoolId"]
        == rec[f"{dev.prefix}-github-pool"].inputs["workloadIdentityPoolId"]
    )
    # GitHub Actions may act as these, from the repository only (main/release, train, monitor).
    for name in ("ci", "pipelines", "monitor"):
        wif = rec[f"{dev.prefix}-{name}-wif-user"].inputs
        assert wif["member"].startswith("principalSet://iam.googleapis.com/projects/")
        assert wif["member"].endswith(f"/attribute.repository/{dev.github.repository}")
        assert wif["serviceAccountId"].endswith(
            f"{fit(dev.prefix, name, 30)}@{dev.gcp.project_id}.iam.gserviceaccount.com"
        )
    wif_users = [r for r in rec.values() if r.name.endswith("-wif-user")]
    assert len(wif_users) == 3  # never nodes or serving


def test_monitor_identity_only_runs_queries(dev):
    """Reading the request logs is granted on their dataset (test_monitoring_logs.py)."""
    rec = run_recorded(dev, lambda: Identity(dev))
    email = f"{fit(dev.prefix, 'monitor', 30)}@{dev.gcp.project_id}.iam.gserviceaccount.com"
    monitor = f"serviceAccount:{email}"
    grants = of_type(rec, "gcp:projects/iAMMember:IAMMember")
    assert [g.inputs["role"] for g in grants if g.inputs["member"] == monitor] == [
        "roles/bigquery.jobUser"
    ]


def test_extra_roles_are_granted(dev):
    cfg = dev.model_copy(
        update={
            "identity": dev.identity.model_copy(
                update={"extra_roles": {"serving": ["roles/monitoring.viewer"]}}
            )
        }
    )
    rec = run_recorded(cfg, lambda: Identity(cfg))
    assert (
        rec[f"{dev.prefix}-serving-monitoring-viewer"].inputs["role"] == "roles/monitoring.viewer"
    )
