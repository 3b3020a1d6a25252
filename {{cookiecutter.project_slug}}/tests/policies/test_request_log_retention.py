"""request-log-retention: request logs (prompts: personal data) expire within the stack's cap,
in the offline plan of the real program (`make plan`) and on hand-made stores."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.config import load_stack_config, project_name, stack_file
from infra.plan import run
from policies.offline import config_file, load_policy_config
from policies.rules import by_name, check_resource

DAY_MS = 86_400_000
DATASET = "gcp:bigquery/dataset:Dataset"
BUCKET = "gcp:storage/bucket:Bucket"
POLICY = by_name()["request-log-retention"]
PARAMS = POLICY.params


def check(resource_type, props, **params):
    return check_resource(POLICY, resource_type, props, {**PARAMS, **params})


def dataset(days=30, purpose="request-logs"):
    return {
        "labels": {"purpose": purpose},
        "defaultPartitionExpirationMs": days * DAY_MS,
        "defaultTableExpirationMs": days * DAY_MS,
    }


def bucket(lifecycle_rules, versioning=False):
    return {
        "labels": {"purpose": "request-logs"},
        "lifecycleRules": lifecycle_rules,
        "versioning": {"enabled": versioning},
    }


def delete_after(days, **condition):
    return {"action": {"type": "Delete"}, "condition": {"age": days, **condition}}


def test_datasets():
    assert check(DATASET, dataset(30)) == []
    assert check(DATASET, dataset(31)) == [
        "request-log dataset keeps logs 31 days (defaultPartitionExpirationMs); at most 30 days",
        "request-log dataset keeps logs 31 days (defaultTableExpirationMs); at most 30 days",
    ]
    assert check(DATASET, dataset(31), maxRetentionDays=45) == []
    never = {"labels": {"purpose": "request-logs"}}
    assert len(check(DATASET, never)) == 2
    assert check(DATASET, {"labels": {"purpose": "analytics"}}) == []  # not request logs


def test_buckets():
    assert check(BUCKET, bucket([delete_after(30)])) == []
    assert check(BUCKET, bucket([])) == [
        "request-log bucket has no lifecycle rule that deletes every object by age"
    ]
    assert check(BUCKET, bucket([delete_after(90)])) == [
        "request-log bucket deletes objects after 90 days; at most 30"
    ]
    # A rule for some objects only, or another action, deletes nothing else.
    assert check(BUCKET, bucket([delete_after(7, matchesPrefix=["tmp/"])]))
    assert check(BUCKET, bucket([{"action": {"type": "SetStorageClass"}, "condition": {"age": 1}}]))
    assert check(BUCKET, bucket([delete_after(30)], versioning=True)) == [
        "request-log bucket keeps versions: deleted logs would live on as copies"
    ]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_caps_retention_and_its_own_stack_file_fits(stack):
    setting = load_policy_config(config_file(stack))["request-log-retention"]
    assert setting.level == "mandatory"
    assert load_stack_config(stack).log_retention_days <= setting.params["maxRetentionDays"]


def test_a_stack_keeping_logs_too_long_fails_the_offline_plan(tmp_path):
    """The real program under mocks (`make plan STACK=prod CONFIG=...`), prod's policy config."""
    document = yaml.safe_load(stack_file("prod").read_text())
    document["config"][f"{project_name()}:monitoring"] = {"log_retention_days": 90}
    config = tmp_path / "Pulumi.prod.yaml"
    config.write_text(yaml.safe_dump(document))
    assert run("prod", config, config_file("prod"), tmp_path) == 1
    doc = json.loads((tmp_path / "prod.json").read_text())
    found = [v for v in doc["violations"] if v["policy"] == "request-log-retention"]
    assert [(v["level"], v["resource"]) for v in found] == [
        ("mandatory", f"{load_stack_config('prod').prefix}-request-logs-dataset")
    ] * 2
    assert "keeps logs 90 days" in found[0]["message"]
