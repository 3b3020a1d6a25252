"""secrets: the model-hub token secret, readable by the serving identity only, no value."""

from infra_helpers import of_type, run_recorded

from infra.secrets import Secrets, SecretsArgs


def test_secrets(dev):
    rec = run_recorded(
        dev, lambda: Secrets(dev, SecretsArgs(serving_member="serviceAccount:serving@x"))
    )
    assert rec[f"{dev.prefix}-secrets"].type == "llmops:secrets:Secrets"
    secret = rec[f"{dev.prefix}-hub-token"].inputs
    assert secret["replication"] == {"auto": {}}
    access = of_type(rec, "gcp:secretmanager/secretIamMember:SecretIamMember")
    assert [(a.inputs["role"], a.inputs["member"], a.inputs["secretId"]) for a in access] == [
        ("roles/secretmanager.secretAccessor", "serviceAccount:serving@x", secret["secretId"])
    ]
    assert not of_type(rec, "gcp:secretmanager/secretVersion:SecretVersion")
