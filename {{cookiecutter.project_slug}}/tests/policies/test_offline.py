"""Policy config files (the `--policy-pack-config` format): committed ones load, typos refused."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.stacks import stack_names
from policies.offline import CONFIG_DIR, PolicyConfigError, evaluate, load_policy_config
from policies.rules import PlanResource

POLICY_DIR = CONFIG_DIR.parent


@pytest.mark.parametrize("stack", stack_names())
def test_committed_configs_load(stack):
    settings = load_policy_config(CONFIG_DIR / f"{stack}.json")
    budget = settings["gpu-monthly-budget"]
    assert budget.level == ("mandatory" if stack == "prod" else "advisory")
    assert budget.params["maxMonthlyUsd"] > 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "not valid JSON"),
        ("[]", "must be an object"),
        ('{"gpu-budget": "mandatory"}', "unknown policy 'gpu-budget'"),
        ('{"k8s-probes": "enforced"}', "enforcementLevel='enforced'"),
        ('{"gpu-autoscaling-capped": {"maxNode": 4}}', "maxNode: unknown parameter"),
        ('{"gpu-autoscaling-capped": {"maxNodes": "4"}}', "maxNodes='4'"),
        ('{"gpu-allowed-types": {"allowedGpuTypes": "nvidia-l4"}}', "allowedGpuTypes"),
        ('{"k8s-probes": 3}', "expected a level or an object"),
    ],
)
def test_bad_configs_are_refused(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PolicyConfigError) as caught:
        load_policy_config(path)
    assert needle in str(caught.value)


def test_missing_config_is_refused(tmp_path):
    with pytest.raises(PolicyConfigError, match="not found"):
        load_policy_config(tmp_path / "none.json")


def test_levels_and_params_apply(tmp_path):
    key = PlanResource("gcp:serviceaccount/key:Key", "k", {})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"iam-no-service-account-keys": "advisory"}))
    assert [v.level for v in evaluate([key], load_policy_config(path))] == ["advisory"]
    path.write_text(json.dumps({"iam-no-service-account-keys": {"enforcementLevel": "disabled"}}))
    assert evaluate([key], load_policy_config(path)) == []


def test_pack_files():
    pack = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python" and pack["version"]
    requirements = (POLICY_DIR / "requirements.txt").read_text()
    assert "pulumi-policy==" in requirements and "protobuf==5.29.5" in requirements
    main = (POLICY_DIR / "__main__.py").read_text()
    compile(main, "policies/__main__.py", "exec")  # builds the pack; never imported here
    assert "PolicyPack(" in main
