"""The generated project's GitHub workflows: every step is a make target, least privilege, pinned.

check-jsonschema (schema) and zizmor (security) run on the same files in `make lint`; these
tests pin the project's own rules, which neither tool knows.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
EXPRESSION = "${" + "{"  # a GitHub expression (spelled so that cookiecutter leaves it alone)
MAKE_STEP = re.compile(r"^make (?P<target>[a-z][a-z0-9-]*)(?: [A-Z_]+=[\w./-]+)*$")


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as True
    return document


def steps(document: dict):
    for job_id, job in document["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


@pytest.fixture(scope="module")
def make_targets() -> set[str]:
    """Every target the Makefile and its fragments define, from make's own database."""
    result = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile", ":"], cwd=ROOT, capture_output=True, text=True
    )
    return {m.group(1) for m in re.finditer(r"^([a-z][a-z0-9-]*):", result.stdout, re.M)}


def test_the_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {
        "pull-request.yml",
        "main.yml",
        "train.yml",
        "release.yml",
        "monitor.yml",
    }


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_step_is_a_make_target_that_exists(path, make_targets):
    # The one exception: the fork preview's notice, which runs with no checkout (so no Makefile).
    runs = [
        (job, step["run"])
        for job, step in steps(load(path))
        if "run" in step and not step["run"].startswith('echo "::notice')
    ]
    assert runs, f"{path.name} runs nothing"
    for job, command in runs:
        match = MAKE_STEP.match(command.strip())
        assert match, f"{path.name} job {job}: `run: {command}` must be a single `make <target>`"
        assert match["target"] in make_targets, (
            f"{path.name} job {job}: make target `{match['target']}` is not defined "
            f"(Makefile or make/*.mk)"
        )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_timeouts_and_concurrency(path):
    document = load(path)
    assert document["permissions"] == {}, f"{path.name}: top-level empty permissions"
    has_concurrency = "concurrency" in document
    for job_id, job in document["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{path.name} {job_id}: job permissions"
        assert "write-all" not in str(job["permissions"])
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name} {job_id}: timeout"
        has_concurrency = has_concurrency or "concurrency" in job
    assert has_concurrency, f"{path.name}: a concurrency group"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_by_sha_with_version_comment(path):
    for job, step in steps(load(path)):
        if "uses" in step:
            assert SHA_PIN.match(step["uses"]), f"{path.name} {job}: {step['uses']} not SHA-pinned"
    for line in path.read_text().splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"{path.name}: version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path):
    for job, step in steps(load(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name} {job}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_long_lived_keys_and_no_expressions_in_run(path):
    text = path.read_text()
    assert "credentials_json" not in text and "secrets." not in text, f"{path.name}: use WIF"
    assert "pull_request_target" not in text
    for job, step in steps(load(path)):
        assert EXPRESSION not in step.get("run", ""), f"{path.name} {job}: pass values through env"


def test_cloud_jobs_authenticate_with_workload_identity_federation():
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            uses = [s.get("uses", "") for s in job.get("steps", [])]
            if any(u.startswith("google-github-actions/auth@") for u in uses):
                assert job["permissions"].get("id-token") == "write", f"{path.name} {job_id}"
                auth = next(s for s in job["steps"] if s.get("uses", "").startswith("google-"))
                assert "workload_identity_provider" in auth["with"]


def test_every_make_step_runs_after_a_checkout_under_the_same_condition():
    """`make` needs the Makefile: a `make` step before the job's checkout, or one that runs when
    the checkout is skipped (the fork preview once did both), fails on first use."""
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            checkouts: list[str] = []
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    checkouts.append(step.get("if", ""))
                if not step.get("run", "").lstrip().startswith("make "):
                    continue
                where = f"{path.name} {job_id}: {step.get('name') or step['run'][:40]!r}"
                assert checkouts, f"{where} runs before any checkout"
                if checkouts[-1]:
                    assert checkouts[-1] in step.get("if", ""), f"{where} may run without it"


def test_pull_request_skips_cloud_preview_for_forks_and_upserts_one_comment():
    document = load(ROOT / ".github/workflows/pull-request.yml")
    assert "pull_request" in document["on"]
    preview = document["jobs"]["preview"]
    notice = [s for s in preview["steps"] if "::notice" in s.get("run", "")]
    assert notice and notice[0]["if"] == "env.FORK == 'true'"
    cloud = [
        s
        for s in preview["steps"]
        if s.get("run") == "make preview" or "auth@" in s.get("uses", "")
    ]
    assert cloud and all("env.FORK != 'true'" in s["if"] for s in cloud)
    report = document["jobs"]["report"]
    assert report["permissions"] == {"contents": "read", "pull-requests": "write"}
    script = next(s for s in report["steps"] if "github-script" in s.get("uses", ""))["with"][
        "script"
    ]
    assert "build/report/pr-comment.md" in script and "updateComment" in script


def test_main_serialises_each_stack_and_smoke_tests():
    jobs = load(ROOT / ".github/workflows/main.yml")["jobs"]
    for stack in ("dev", "staging"):
        job = jobs[f"up-{stack}"]
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        assert job["env"]["STACK"] == stack
        assert [s["run"] for s in job["steps"] if "run" in s] == ["make up", "make smoke"]
    assert jobs["up-staging"]["needs"] == "up-dev"


def test_train_on_schedule_and_on_demand():
    document = load(ROOT / ".github/workflows/train.yml")
    assert {"schedule", "workflow_dispatch"} <= set(document["on"])
    assert [s["run"] for _, s in steps(document) if "run" in s] == ["make pipeline-submit"]


def test_release_on_tags_through_a_reviewed_environment():
    document = load(ROOT / ".github/workflows/release.yml")
    assert document["on"] == {"push": {"tags": ["v*"]}}
    canary = document["jobs"]["canary"]
    assert canary["environment"] == "production"
    assert canary["env"]["BACKEND"] == "gke" and canary["env"]["STACK"] == "prod"
    assert "contents" in canary["permissions"] and canary["permissions"]["contents"] == "read"
    publish = document["jobs"]["publish"]
    assert publish["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert [s["run"] for s in publish["steps"] if "run" in s] == [
        "make release-publish",
        "make release-persist",
    ]
    # A cancelled canary is finished from its saved state; never only by the killed process.
    recover = [s for s in canary["steps"] if s.get("run") == "make canary-recover"]
    assert [s["if"] for s in recover] == ["cancelled()"]


def test_workflows_deploy_only_stacks_that_have_a_stack_file():
    """Workflows are static YAML, so they name stacks; each must be a stack file (a new stack
    needs no workflow change, deploying it from CI is a new job: infra/README.md)."""
    from infra.stacks import stack_names

    named = {
        (path.name, job_id, job["env"]["STACK"])
        for path in WORKFLOWS
        for job_id, job in load(path)["jobs"].items()
        if "STACK" in job.get("env", {})
    }
    assert named, "no workflow job sets STACK"
    assert {entry for entry in named if entry[2] not in stack_names()} == set()


def test_monitor_reads_prod_read_only_and_on_drift_files_an_issue_and_retrains():
    document = load(ROOT / ".github/workflows/monitor.yml")
    assert "schedule" in document["on"]
    assert set(document["on"]["workflow_dispatch"]["inputs"]) == {"since", "until"}
    monitor = document["jobs"]["monitor"]
    assert monitor["permissions"] == {"contents": "read", "id-token": "write"}
    assert monitor["env"]["STACK"] == "prod"
    assert {"SINCE", "UNTIL"} <= set(monitor["env"])
    auth = next(s for s in monitor["steps"] if s.get("uses", "").startswith("google-"))
    assert "MONITOR_SERVICE_ACCOUNT" in auth["with"]["service_account"]  # never the CI identity
    runs = [s for s in monitor["steps"] if "run" in s]
    assert [s["run"] for s in runs] == ["make monitor", "make monitor-export"]
    assert runs[0]["continue-on-error"] is True  # exit 1 is drift, told apart by the verdict
    assert runs[1]["env"]["OUT"] == "build/monitor/window.jsonl"
    assert "drift" in runs[1]["if"]
    window = next(s for s in monitor["steps"] if s.get("with", {}).get("name") == "drift-window")
    assert window["with"]["retention-days"] <= 7  # prompts: personal data
    retrain = document["jobs"]["retrain"]
    assert retrain["needs"] == "monitor" and "drift" in retrain["if"]
    assert retrain["permissions"] == {"actions": "write", "issues": "write"}  # no Google access
    script = next(s for s in retrain["steps"] if "github-script" in s.get("uses", ""))["with"][
        "script"
    ]
    assert "build/monitor/report.md" in script and "issues.create" in script
    assert 'workflow_id: "train.yml"' in script
    train = load(ROOT / ".github/workflows/train.yml")
    assert "drift_window_run" in train["on"]["workflow_dispatch"]["inputs"]
    assert "drift_window_run" in script
