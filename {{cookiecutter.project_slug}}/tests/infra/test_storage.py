"""storage: Docker registry and the private, versioned model bucket with least-privilege IAM."""

from infra_helpers import of_type, run_recorded

from infra.naming import bucket_name, env_short
from infra.storage import Storage, StorageArgs

ARGS = StorageArgs(
    model_readers=["serviceAccount:serving@x"],
    model_writers=["serviceAccount:pipelines@x"],
    image_readers=["serviceAccount:nodes@x"],
    image_writers=["serviceAccount:ci@x"],
)


def test_storage(dev):
    rec = run_recorded(dev, lambda: Storage(dev, ARGS))
    assert rec[f"{dev.prefix}-storage"].type == "llmops:storage:Storage"
    registry = rec[f"{dev.prefix}-images"].inputs
    assert registry["format"] == "DOCKER"
    assert registry["dockerConfig"]["immutableTags"] is True
    bucket = rec[f"{dev.prefix}-models"].inputs
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["versioning"]["enabled"] is True
    assert bucket["labels"]["purpose"] == "models"
    assert len(bucket["name"]) <= 63
    members = {
        (m.inputs["role"], m.inputs["member"], m.inputs["bucket"])
        for m in of_type(rec, "gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    assert members == {
        ("roles/storage.objectViewer", "serviceAccount:serving@x", bucket["name"]),
        ("roles/storage.objectAdmin", "serviceAccount:pipelines@x", bucket["name"]),
    }
    repo_members = of_type(rec, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert {m.inputs["repository"] for m in repo_members} == {registry["repositoryId"]}


def test_bucket_names_abbreviate_any_environment_the_same_way():
    # The committed stacks' bucket names must not change (a renamed bucket is a new, empty one).
    assert [env_short(e) for e in ("dev", "staging", "prod")] == ["dev", "stg", "prd"]
    assert [env_short(e) for e in ("qa", "sandbox", "aiai")] == ["qa", "snd", "aia"]
    assert bucket_name("my-proj", "svc", "qa", "models") == "my-proj-svc-qa-models"
