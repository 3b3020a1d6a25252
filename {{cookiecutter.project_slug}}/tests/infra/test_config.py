"""Stack config validation: every rule refuses a bad value, naming the field, value and rule."""

from __future__ import annotations

import pytest
from infra_helpers import STACKS, config_from, stack_values, write_stack_file

from infra.config import (
    ConfigError,
    load_stack_config,
    parse_stack_config,
    project_name,
    stack_file,
)


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_validate(stack):
    cfg = load_stack_config(stack)
    assert cfg.environment == stack
    assert cfg.prefix == f"{cfg.project}-{stack}"


def test_dev_scales_to_zero_on_spot_and_prod_keeps_a_minimum():
    dev, prod = load_stack_config("dev"), load_stack_config("prod")
    assert all(p.capacity == ["spot"] and p.min_nodes == 0 for p in dev.gpu_pools)
    assert all(p.min_nodes >= 1 for p in prod.gpu_pools)
    assert prod.cluster.deletion_protection and not dev.cluster.deletion_protection


def refused(values, *needles):
    with pytest.raises(ConfigError) as caught:
        config_from(values)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, message
    return message


def pool(values):
    return values["gpu_pools"][0]


def test_gpu_on_the_wrong_machine_family_is_refused():
    values = stack_values()
    pool(values).update(gpu_type="nvidia-l4", gpus_per_node=1, machine_type="a2-highgpu-1g")
    refused(values, "gpu_pools[0].machine_type='a2-highgpu-1g'", "g2-standard-8")


def test_gpu_in_a_region_without_it_is_refused():
    values = stack_values()
    values["gcp"]["region"] = "us-east1"
    pool(values)["gpu_type"] = "nvidia-a100-80gb"
    pool(values)["gpus_per_node"] = 1
    refused(values, "gpu_pools[0].gpu_type='nvidia-a100-80gb'", "not offered in region 'us-east1'")


def test_zone_without_the_gpu_is_refused():
    values = stack_values()
    values["gcp"]["region"] = "us-central1"
    pool(values).update(gpu_type="nvidia-a100-80gb", gpus_per_node=1, zones=["us-central1-b"])
    refused(values, "gpu_pools[0].zones", "'us-central1-b'", "us-central1-a")


def test_unknown_region_is_refused():
    values = stack_values()
    values["gcp"]["region"] = "mars-north1"
    refused(values, "gcp.region='mars-north1'")


def test_min_above_max_is_refused():
    values = stack_values()
    pool(values).update(min_nodes=3, max_nodes=1)
    refused(values, "min_nodes=3", "max_nodes=1")


def test_zero_max_nodes_is_refused():
    values = stack_values()
    pool(values)["max_nodes"] = 0
    refused(values, "gpu_pools.0.max_nodes=0", "greater than or equal to 1")


def test_overlapping_ranges_are_refused():
    values = stack_values()
    values["network"]["services_cidr"] = "10.10.4.0/24"
    refused(values, "network.services_cidr='10.10.4.0/24'", "overlaps network.subnet_cidr")


def test_public_range_and_wrong_master_size_are_refused():
    values = stack_values()
    values["network"]["subnet_cidr"] = "8.8.0.0/20"
    values["network"]["master_cidr"] = "172.16.0.0/24"
    refused(values, "network.subnet_cidr='8.8.0.0/20'", "RFC 1918", "needs a /28")


@pytest.mark.parametrize(
    ("field", "cidr", "needle"),
    [
        ("subnet_cidr", "127.0.0.0/20", "loopback"),
        ("pods_cidr", "169.254.0.0/16", "link-local"),
        ("services_cidr", "224.0.0.0/20", "multicast"),
        ("proxy_cidr", "0.0.0.0/23", "'this network'"),
        ("pods_cidr", "255.252.0.0/14", "limited broadcast"),
    ],
)
def test_ranges_compute_refuses_are_refused(field, cidr, needle):
    values = stack_values()
    values["network"][field] = cidr
    refused(values, f"network.{field}={cidr!r}: Compute Engine refuses", needle)


def test_non_rfc1918_ranges_gke_supports_are_accepted():
    """GKE supports shared address space (100.64.0.0/10) and class E (240.0.0.0/4)."""
    values = stack_values()
    values["network"].update(
        subnet_cidr="100.64.0.0/20", pods_cidr="240.0.0.0/14", services_cidr="100.65.0.0/20"
    )
    net = config_from(values).network
    assert str(net.pods_cidr) == "240.0.0.0/14" and str(net.subnet_cidr) == "100.64.0.0/20"


def test_ranges_below_the_vpc_minimums_are_refused():
    values = stack_values()
    values["network"].update(subnet_cidr="10.10.0.0/30", proxy_cidr="10.30.0.0/27")
    refused(
        values,
        "network.subnet_cidr='10.10.0.0/30': a subnet's primary range is at least a /29",
        "network.proxy_cidr='10.30.0.0/27': a proxy-only subnet is at least a /26",
    )


def test_ranges_too_small_for_the_pools_are_refused():
    values = stack_values()
    values["network"].update(subnet_cidr="10.10.0.0/29", pods_cidr="10.16.0.0/23")
    message = refused(
        values,
        "network.subnet_cidr='10.10.0.0/29': 4 node addresses",
        "network.pods_cidr='10.16.0.0/23': room for 2 nodes",
    )
    assert "may reach 6" in message  # dev: 2 system + 2 GPU nodes + one surge node per pool
    values = stack_values()
    values["network"]["pods_cidr"] = "10.16.0.0/21"  # 8 nodes at a /24 each: enough for dev
    assert config_from(values).network.pods_cidr.prefixlen == 21


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_world_open_authorized_network_is_refused(cidr):
    values = stack_values()
    values["cluster"]["master_authorized_networks"] = [{"name": "all", "cidr": cidr}]
    refused(values, f"cluster.master_authorized_networks.0.cidr={cidr!r}: the whole internet")
    values["cluster"]["master_authorized_networks"] = [{"name": "office", "cidr": "203.0.113.0/24"}]
    assert config_from(values).cluster.master_authorized_networks[0].name == "office"


def test_extended_release_channel_is_accepted():
    values = stack_values()
    values["cluster"]["release_channel"] = "EXTENDED"
    assert config_from(values).cluster.release_channel == "EXTENDED"


@pytest.mark.parametrize("key", ["environment", "team", "cost-center", "project"])
def test_pool_labels_cannot_override_cost_labels(key):
    values = stack_values()
    pool(values)["labels"] = {"workload": "serving", key: "prod"}
    refused(values, f"gpu_pools.0.labels={{{key!r}: 'prod'}}: [{key!r}] are cost labels")


@pytest.mark.parametrize("machine", ["g2-standard-8", "a2-highgpu-1g", "a3-highgpu-8g"])
def test_gpu_machine_as_system_pool_is_refused(machine):
    values = stack_values()
    values["cluster"]["system_pool"]["machine_type"] = machine
    refused(values, f"cluster.system_pool.machine_type={machine!r}: a GPU machine series")


def test_duplicate_pool_zones_are_refused():
    values = stack_values()
    values["gcp"]["region"] = "us-central1"
    pool(values).update(gpu_type="nvidia-l4", gpus_per_node=1)
    pool(values)["zones"] = ["us-central1-a", "us-central1-a"]
    refused(values, "gpu_pools.0.zones=['us-central1-a', 'us-central1-a']", "more than once")


@pytest.mark.parametrize(
    "namespace",
    [
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "default",
        "gke-managed-system",
        "gmp-public",
    ],
)
def test_system_namespace_is_refused(namespace):
    values = stack_values()
    values["serving"]["namespace"] = namespace
    refused(values, f"serving.namespace={namespace!r}: a namespace Kubernetes or GKE owns")


def test_traffic_to_a_parked_stable_track_is_refused():
    values = stack_values()  # dev: min_replicas 0, so the stable track is parked
    values["serving"]["canary_weight"] = 30
    refused(values, "serving.canary_weight=30: the stable track is parked", "70% of requests")
    for weight in (0, 100):  # everything parked (dev), or everything on the canary
        values["serving"]["canary_weight"] = weight
        assert config_from(values).serving.canary_weight == weight
    values["serving"].update(canary_weight=30, min_replicas=1)
    assert config_from(values).serving.min_replicas == 1


def test_canary_with_no_replicas_is_refused():
    values = stack_values()
    values["serving"].update(canary_weight=10, max_replicas=0)
    refused(values, "serving.max_replicas=0", "greater than or equal to 1")


@pytest.mark.parametrize("stack", STACKS)
def test_environment_must_match_the_stack_file(stack):
    other = next(s for s in STACKS if s != stack)
    values = stack_values(stack)
    values["environment"] = other
    with pytest.raises(ConfigError) as caught:
        config_from(values, stack)
    assert f"environment={other!r}: the file of stack {stack!r} must say" in str(caught.value)


@pytest.mark.parametrize(
    ("stack", "environment"), [("qa", "qa"), ("prod-eu", "prod"), ("staging-2", "staging")]
)
def test_a_stack_is_its_environment_or_a_named_copy_of_one(stack, environment):
    values = stack_values(environment if environment in STACKS else "staging")
    values["environment"] = environment
    assert config_from(values, stack).environment == environment


def test_names_over_gcp_limits_are_refused():
    values = stack_values()
    values["artifact_registry"] = {"repository_id": "r" * 32}
    with pytest.raises(ConfigError, match="Artifact Registry allows 63"):
        parse_stack_config(values, "p" * 30, "dev")  # 'ppp...-dev-rrr...': 67
    with pytest.raises(ConfigError, match="GKE allows 40"):
        parse_stack_config(stack_values(), "p" * 37, "dev")  # cluster name 'ppp...-dev': 41


@pytest.mark.parametrize("missing", ["gcp", "labels", "github", "gpu_pools", "environment"])
def test_missing_required_value_is_refused(missing):
    values = stack_values()
    del values[missing]
    refused(values, missing)


def test_unknown_key_is_refused():
    values = stack_values()
    pool(values)["gpus"] = 2
    refused(values, "gpu_pools.0.gpus", "Extra inputs are not permitted")


def test_spot_only_shape_on_demand_is_refused():
    values = stack_values()
    values["gcp"]["region"] = "us-central1"
    pool(values).update(gpu_type="nvidia-h100-80gb", gpus_per_node=1, spot=False)
    refused(values, "gpu_pools[0].spot=false", "a3-highgpu-1g is sold only as Spot")


def test_a_capacity_chain_is_read_in_order_and_spot_is_its_shorthand():
    values = stack_values()
    pool(values).pop("spot", None)
    pool(values).update(capacity=["reservation", "spot", "flex-start"], reservation="h100-res")
    cfg = config_from(values)
    (chained,) = cfg.gpu_pools[:1]
    assert chained.capacity == ["reservation", "spot", "flex-start"]
    assert chained.compute_class == f"gpu-{chained.name}"
    names = [chained.node_pool_name(c) for c in chained.capacity]
    assert names == [f"gpu-{chained.name}-{s}" for s in ("res", "spot", "flex")]
    single = load_stack_config("dev").gpu_pools[0]
    assert single.compute_class is None and single.node_pool_name("spot") == f"gpu-{single.name}"


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"capacity": ["spot"]}, ("give spot or capacity, not both",)),
        ({"spot": None, "capacity": None}, ("no spot, no capacity", "flex-start")),
        ({"spot": "yes"}, ("spot='yes': true or false",)),
        ({"spot": None, "capacity": []}, ("gpu_pools.0.capacity",)),
        ({"spot": None, "capacity": ["spot", "spot"]}, ("['spot'] listed more than once",)),
        ({"spot": None, "capacity": ["cheap"]}, ("gpu_pools.0.capacity.0='cheap'",)),
        ({"spot": None, "capacity": ["reservation"]}, ("reservation=None", "if and only if")),
        ({"reservation": "r1"}, ("reservation='r1'", "capacity=['spot']")),
        (
            {"spot": None, "capacity": ["reservation"], "reservation": "Bad_Name"},
            ("reservation='Bad_Name'", "Compute Engine resource name"),
        ),
        (
            {"spot": None, "capacity": ["flex-start"], "min_nodes": 1},
            ("min_nodes=1", "flex-start capacity scales from 0"),
        ),
    ],
)
def test_bad_capacity_chains_are_refused(change, needles):
    values = stack_values()
    for key, value in change.items():
        if value is None:
            pool(values).pop(key, None)
        else:
            pool(values)[key] = value
    refused(values, *needles)


def test_a_spot_only_shape_may_chain_spot_and_flex_start_but_not_on_demand():
    values = stack_values()
    values["gcp"]["region"] = "us-central1"
    pool(values).pop("spot")
    pool(values).update(gpu_type="nvidia-h100-80gb", gpus_per_node=1)
    pool(values)["capacity"] = ["spot", "flex-start"]
    assert config_from(values).gpu_pools[0].capacity == ["spot", "flex-start"]
    pool(values)["capacity"] = ["flex-start", "on-demand"]
    refused(values, "gpu_pools[0].capacity=['on-demand']", "Spot or flex-start")


def test_unsupported_gpu_count_is_refused():
    values = stack_values()
    pool(values).update(gpu_type="nvidia-l4", gpus_per_node=3)
    refused(values, "gpu_pools[0].gpus_per_node=3", "[1, 2, 4, 8]")


def test_more_replicas_than_gpu_nodes_is_refused():
    values = stack_values()
    pool(values)["max_nodes"] = 1
    values["serving"]["max_replicas"] = 4
    refused(values, "serving.max_replicas=4", "at most 1")


def test_serving_keeps_one_spare_gpu_node_for_rollouts_and_the_canary():
    values = stack_values("prod")
    pool(values)["max_nodes"] = 2
    values["serving"].update(min_replicas=1, max_replicas=2)  # a surge Pod would wait forever
    refused(values, "serving.max_replicas=2", "allow at most 2", "lower serving.max_replicas to 1")
    values["serving"]["max_replicas"] = 1
    assert config_from(values, "prod").serving.max_replicas == 1


def test_duplicate_pool_names_are_refused():
    values = stack_values()
    values["gpu_pools"].append(dict(pool(values)))
    refused(values, "gpu_pools[1].name='serving'", "unique")


@pytest.mark.parametrize(
    ("section", "field", "value", "needle"),
    [
        ("gcp", "project_id", "Bad_Project", "project_id='Bad_Project'"),
        ("labels", "team", "ML Team", "'ML Team'"),
        ("github", "repository", "not-a-repo", "'not-a-repo'"),
        ("serving", "canary_weight", 150, "serving.canary_weight=150"),
        ("serving", "namespace", "kube-system", "'kube-system'"),
        ("identity", "extra_roles", {"ci": ["owner"]}, "'owner'"),
        ("identity", "extra_roles", {"robots": []}, "'robots'"),
        ("environment", None, "Prod!", "environment='Prod!'"),
        ("environment", None, "d", "2 to 10 lowercase letters"),
    ],
)
def test_field_rules(section, field, value, needle):
    values = stack_values()
    if field is None:
        values[section] = value
    else:
        values.setdefault(section, {})[field] = value
    refused(values, needle)


def test_every_problem_is_reported_at_once():
    values = stack_values()
    pool(values).update(min_nodes=5, max_nodes=2)
    values["network"]["pods_cidr"] = "10.10.0.0/16"
    message = refused(values, "min_nodes=5", "network.pods_cidr")
    assert message.count("\n  - ") >= 2


def test_stack_file_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_stack_config("nope", tmp_path / "Pulumi.nope.yaml")
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_stack_config("broken", broken)
    bare = tmp_path / "Pulumi.bare.yaml"
    bare.write_text("config:\n  environment: dev\n")
    with pytest.raises(ConfigError, match="has no namespace"):
        load_stack_config("bare", bare)


def test_a_written_stack_file_round_trips(tmp_path):
    path = write_stack_file(tmp_path / "Pulumi.prod-copy.yaml", stack_values("prod"))
    assert load_stack_config("prod-copy", path).environment == "prod"


def test_model_refs_as_the_cli_writes_them(tmp_path):
    """`pulumi config set --path serving.canary_model 7` (no --type) stores the YAML integer 7
    under the stack's `serving` mapping; the release backend passes --type string, a person
    running the documented command by hand may not. Both mean registry version 7."""
    text = stack_file("dev").read_text()
    serving = f"  {project_name()}:serving:\n"
    assert serving in text, "the dev stack file has a serving mapping"
    text = text.replace(serving, serving + "    canary_model: 7\n    stable_model: '3'\n")
    cfg = load_stack_config("dev", write_stack_text(tmp_path, text))
    assert (cfg.serving.canary_model, cfg.serving.stable_model) == ("7", "3")
    for bad in ("true", "''"):
        path = write_stack_text(tmp_path, text.replace("canary_model: 7", f"canary_model: {bad}"))
        with pytest.raises(ConfigError, match="canary_model"):
            load_stack_config("dev", path)


def test_canary_warm_as_the_cli_writes_it(tmp_path):
    """`pulumi config set --path serving.canary_warm true --type bool` (the release's warm-up,
    release/backends.py) stores the YAML boolean under `serving`; a string is refused."""
    text = stack_file("dev").read_text()
    serving = f"  {project_name()}:serving:\n"
    assert not load_stack_config("dev").serving.canary_warm
    warm = text.replace(serving, serving + "    canary_warm: true\n")
    assert load_stack_config("dev", write_stack_text(tmp_path, warm)).serving.canary_warm
    with pytest.raises(ConfigError, match="canary_warm"):
        load_stack_config(
            "dev",
            write_stack_text(tmp_path, warm.replace("canary_warm: true", "canary_warm: 'maybe'")),
        )


def write_stack_text(tmp_path, text):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- alerts: who is notified
def test_prod_alerts_must_notify_someone_or_say_so():
    values = stack_values("prod")
    values.pop("alerts", None)
    with pytest.raises(ConfigError) as caught:
        config_from(values, "prod")
    assert "alerts={}: prod alert policies must notify someone" in str(caught.value)
    assert load_stack_config("prod").alerts.allow_unrouted  # the committed stack says so, visibly
    values["alerts"] = {"emails": ["oncall@acme.io"]}
    assert config_from(values, "prod").alerts.routed()
    dev = config_from(stack_values("dev"))
    assert not dev.alerts.routed() and not dev.alerts.allow_unrouted  # dev needs no channel


@pytest.mark.parametrize(
    "alerts, needle",
    [
        ({"emails": ["oncall@example.com"]}, "'oncall@example.com': a placeholder domain"),
        ({"emails": ["not-an-address"]}, "'not-an-address': not an email address"),
        ({"emails": ["a@acme.io", "a@acme.io"]}, "addresses must be unique"),
        ({"pubsub_topic": "alerts"}, "'alerts': expected 'projects/<project id>/topics/<topic>'"),
        ({"channels": ["slack"]}, "'slack': expected 'projects/<project>/notificationChannels/"),
        (
            {"allow_unrouted": True, "emails": ["a@acme.io"]},
            "alerts.allow_unrouted=True: channels are configured",
        ),
        ({"email": ["a@acme.io"]}, "alerts.email"),
    ],
)
def test_alert_channel_rules(alerts, needle):
    values = stack_values()
    values["alerts"] = alerts
    refused(values, needle)


def test_hub_token_mount_is_off_unless_configured():
    assert not any(load_stack_config(s).serving.mount_hub_token for s in STACKS)
    values = stack_values()
    values["serving"]["mount_hub_token"] = True
    assert config_from(values).serving.mount_hub_token
