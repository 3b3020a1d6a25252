"""vertex: pipeline root bucket and the pipeline identity's rights; CI may act as it."""

from infra_helpers import run_recorded

from infra.vertex import Vertex, VertexArgs


def test_vertex(dev):
    args = VertexArgs(
        pipelines_account="projects/p/serviceAccounts/pipelines@x",
        pipelines_member="serviceAccount:pipelines@x",
        submitter_member="serviceAccount:ci@x",
    )
    rec = run_recorded(dev, lambda: Vertex(dev, args))
    assert rec[f"{dev.prefix}-vertex"].type == "llmops:vertex:Vertex"
    bucket = rec[f"{dev.prefix}-pipeline-root"].inputs
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["lifecycleRules"][0]["condition"]["age"] == dev.storage.pipeline_root_ttl_days
    assert rec[f"{dev.prefix}-pipelines-aiplatform-user"].inputs["role"] == "roles/aiplatform.user"
    act_as = rec[f"{dev.prefix}-pipelines-act-as"].inputs
    assert act_as == {
        "serviceAccountId": "projects/p/serviceAccounts/pipelines@x",
        "role": "roles/iam.serviceAccountUser",
        "member": "serviceAccount:ci@x",
    }
