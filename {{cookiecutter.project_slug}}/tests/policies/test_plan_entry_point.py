"""`make plan` records what infra/__main__.py declares: nothing added there escapes the policies."""

from __future__ import annotations

import sys

from infra.config import load_stack_config
from infra.plan import ENTRY_POINT, record_stack, resource_rows
from policies.offline import defaults, evaluate
from policies.rules import PlanResource

EXTRA = """
import pulumi_gcp as gcp

gcp.storage.Bucket("added-in-main", location="US")  # no labels, no uniform access: violations
"""


def test_a_resource_added_in_the_entry_point_is_planned_and_checked(tmp_path):
    entry_point = tmp_path / "__main__.py"  # a copy: the committed file stays untouched
    entry_point.write_text(ENTRY_POINT.read_text() + EXTRA)
    path_before = list(sys.path)
    rows = resource_rows(record_stack(load_stack_config("dev"), entry_point))
    assert sys.path == path_before, "the entry point's sys.path change leaked"
    added = [r for r in rows if r["name"] == "added-in-main"]
    assert [r["type"] for r in added] == ["gcp:storage/bucket:Bucket"], "not in the plan"
    resources = [PlanResource(r["type"], r["name"], r["inputs"]) for r in rows]
    failed = {v.policy for v in evaluate(resources, defaults()) if v.resource == "added-in-main"}
    assert {"cost-labels", "storage-uniform-access", "storage-no-public-access"} <= failed
