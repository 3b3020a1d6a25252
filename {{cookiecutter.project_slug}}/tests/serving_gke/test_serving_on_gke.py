"""The GKE serving objects (infra/serving/): schema-valid, consistent, and declared as rendered.

Runs in the infra env (pulumi-kubernetes, kubernetes-validate). Core kinds are validated against
the Kubernetes schema of the cluster's versions; CRD-backed kinds against their upstream CRD schemas
in test_crd_schemas.py. The tests here check what schemas cannot: values and consistency.
"""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from infra.config import load_stack_config
from infra.serving import (
    GPU_RESOURCE,
    HPA_METRIC,
    NODE_SCALE_UP_S,
    PORT_NAME,
    REQUEST_LOG_CONFIG_MAP,
    SKIP_AWAIT,
    ServingOnGkeArgs,
    alert_rules,
    await_timeout_s,
    dashboard_json,
    hub_token_resource,
    render_objects,
    track_name,
)
from infra.stacks import stack_names
from serving.spec import load_spec

# GKE versions the release channels serve (REGULAR/STABLE 1.34, RAPID up to 1.36; 2026-11).
CLUSTER_VERSIONS = ("1.34", "1.35", "1.36")
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
}


def args_for(stack: str, **changes) -> ServingOnGkeArgs:
    cfg = load_stack_config(stack)
    pool = cfg.gpu_pools[0]
    values = {
        "k8s_provider": None,
        "namespace": cfg.serving.namespace,
        "serving_gsa_email": f"serving@{cfg.gcp.project_id}.iam.gserviceaccount.com",
        "ksa_name": cfg.serving.service_account,
        "model_bucket": f"{cfg.gcp.project_id}-models",
        "hub_token_secret_id": "hub-token",
        "project_id": cfg.gcp.project_id,
        "gpu_type": pool.gpu_type,
        "gpus_per_node": pool.gpus_per_node,
        "canary_weight": cfg.serving.canary_weight,
        "min_replicas": cfg.serving.min_replicas,
        "max_replicas": cfg.serving.max_replicas,
        "labels": {"team": cfg.labels.team},
    }
    values.update(changes)
    return ServingOnGkeArgs(**values)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(params=stack_names())
def objects(request) -> list[dict]:
    return render_objects(args_for(request.param))


@pytest.mark.parametrize("version", CLUSTER_VERSIONS)
def test_core_objects_validate_against_the_cluster_schema(objects, version):
    core = [o for o in objects if o["kind"] in CORE_KINDS]
    assert {o["kind"] for o in core} == CORE_KINDS
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def test_schema_validation_catches_a_broken_object(objects):
    deployment = json.loads(json.dumps(by_kind(objects, "Deployment")["vllm-stable"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, CLUSTER_VERSIONS[0], strict=True)


def test_every_object_has_metadata_and_namespace(objects):
    namespace = by_kind(objects, "Namespace")
    assert len(namespace) == 1
    (ns_name,) = namespace
    for obj in objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == ns_name, obj["kind"]


def test_selectors_match_pod_labels(objects):
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"vllm-stable", "vllm-canary"}
    for name, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        match = deployment["spec"]["selector"]["matchLabels"]
        assert match.items() <= pod_labels.items()
        service = by_kind(objects, "Service")[name]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        pdb = by_kind(objects, "PodDisruptionBudget")[name]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        monitoring = by_kind(objects, "PodMonitoring")["vllm"]
        assert monitoring["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        # Stable and canary selectors must not overlap, or traffic weights mean nothing.
        other = deployments[next(n for n in deployments if n != name)]
        assert not match.items() <= other["spec"]["template"]["metadata"]["labels"].items()


def test_ports_agree_across_deployment_service_probes_route_and_monitoring(objects):
    spec = load_spec()
    port = spec.gke.port
    for name, deployment in by_kind(objects, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}]
        args = container["args"]
        assert args[args.index("--port") + 1] == str(port)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == PORT_NAME
        service_port = by_kind(objects, "Service")[name]["spec"]["ports"][0]
        assert (service_port["port"], service_port["targetPort"]) == (port, PORT_NAME)
        health = by_kind(objects, "HealthCheckPolicy")[name]["spec"]
        assert health["default"]["config"]["httpHealthCheck"]["port"] == port
        assert health["targetRef"]["name"] == name
        assert by_kind(objects, "GCPBackendPolicy")[name]["spec"]["targetRef"]["name"] == name
    route = by_kind(objects, "HTTPRoute")["vllm"]["spec"]
    refs = route["rules"][0]["backendRefs"]
    assert {r["name"] for r in refs} == set(by_kind(objects, "Service"))
    assert all(r["port"] == port for r in refs)
    endpoints = by_kind(objects, "PodMonitoring")["vllm"]["spec"]["endpoints"]
    assert endpoints[0]["port"] == PORT_NAME and endpoints[0]["path"] == "/metrics"
    gateway = by_kind(objects, "Gateway")["vllm"]
    assert route["parentRefs"][0]["name"] == gateway["metadata"]["name"]
    listener_names = {ln["name"] for ln in gateway["spec"]["listeners"]}
    assert route["parentRefs"][0]["sectionName"] in listener_names


def test_probes_follow_the_gke_facts(objects):
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert pod["enableServiceLinks"] is False
        assert (
            pod["terminationGracePeriodSeconds"]
            > container["lifecycle"]["preStop"]["sleep"]["seconds"]
        )
        assert not container["image"].endswith(":latest") and ":" in container["image"]
        assert "--served-model-name" in container["args"]
        assert "--enable-log-requests" in container["args"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_request_log_config_is_mounted_where_vllm_reads_it(objects):
    """vLLM reads VLLM_LOGGING_CONFIG_PATH (vllm/logger.py) and imports the formatter the
    dictConfig names: both files come from one ConfigMap, mounted where the env points."""
    config_map = by_kind(objects, "ConfigMap")[REQUEST_LOG_CONFIG_MAP]
    config = json.loads(config_map["data"]["logging.json"])
    module = config["formatters"]["llmops"]["()"].rsplit(".", 1)[0]
    assert f"{module}.py" in config_map["data"]
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "request-log")
        volume = next(v for v in pod["volumes"] if v["name"] == "request-log")
        assert volume["configMap"]["name"] == REQUEST_LOG_CONFIG_MAP
        assert env["VLLM_LOGGING_CONFIG_PATH"] == f"{mount['mountPath']}/logging.json"
        assert env["PYTHONPATH"] == mount["mountPath"] and mount["readOnly"] is True
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["llmops/request-log"]


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_gpu_limit_equals_tensor_parallelism(gpus):
    objects = render_objects(args_for("prod", gpus_per_node=gpus, gpu_type="nvidia-h100-80gb"))
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        args = container["args"]
        tp = int(args[args.index("--tensor-parallel-size") + 1])
        assert tp == gpus
        assert container["resources"]["limits"][GPU_RESOURCE] == str(gpus)
        assert container["resources"]["requests"][GPU_RESOURCE] == str(gpus)
        assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
        assert {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]


@pytest.mark.parametrize("weight", [0, 10, 50, 100])
def test_route_weights_come_from_the_stack_setting(weight):
    objects = render_objects(args_for("staging", canary_weight=weight))
    refs = by_kind(objects, "HTTPRoute")["vllm"]["spec"]["rules"][0]["backendRefs"]
    weights = {r["name"]: r["weight"] for r in refs}
    assert weights == {"vllm-stable": 100 - weight, "vllm-canary": weight}
    canary = by_kind(objects, "Deployment")["vllm-canary"]["spec"]
    # A canary without traffic is parked: no GPU node is held for it.
    assert canary.get("replicas") == (0 if weight == 0 else None)


def test_default_stacks_send_nothing_to_the_canary():
    for stack in stack_names():
        refs = by_kind(render_objects(args_for(stack)), "HTTPRoute")["vllm"]["spec"]["rules"][0]
        assert {r["name"]: r["weight"] for r in refs["backendRefs"]}["vllm-canary"] == 0


def test_bad_weight_and_gpu_count_are_refused():
    with pytest.raises(ValueError, match="canary_weight=120"):
        render_objects(args_for("dev", canary_weight=120))
    with pytest.raises(ValueError, match="gpus_per_node=0"):
        render_objects(args_for("dev", gpus_per_node=0))


def test_autoscaling_on_queue_depth_and_disruption_budget(objects):
    spec = load_spec()
    for name, hpa in by_kind(objects, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        metric = hpa["spec"]["metrics"][0]["pods"]
        assert metric["metric"]["name"] == HPA_METRIC
        assert "vllm:num_requests_waiting" in HPA_METRIC
        assert float(metric["target"]["averageValue"]) == spec.gke.autoscaling.target_average_value
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert set(by_kind(objects, "PodDisruptionBudget")) == {"vllm-stable", "vllm-canary"}


def test_workload_identity_weights_and_token(objects):
    sa = next(iter(by_kind(objects, "ServiceAccount").values()))
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com"
    )
    for track in ("stable", "canary"):
        deployment = by_kind(objects, "Deployment")[track_name(track)]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == sa["metadata"]["name"]
        assert deployment["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == (
            "true"
        )
        volumes = {v["name"]: v for v in pod["volumes"]}
        fuse = volumes["model"]["csi"]
        assert fuse["driver"] == "gcsfuse.csi.storage.gke.io" and fuse["readOnly"] is True
        model = "champion" if track == "stable" else "candidate"
        assert "only-dir=models/" in fuse["volumeAttributes"]["mountOptions"]
        assert (
            fuse["volumeAttributes"]["mountOptions"]
            .split("only-dir=")[1]
            .split(",")[0]
            .endswith(f"/{model}")
        )


def test_hub_token_is_mounted_only_when_configured(objects):
    """The CSI driver mounts versions/latest; a secret without a version would keep every pod in
    ContainerCreating, and the program creates the secret without one."""
    assert not by_kind(objects, "SecretProviderClass")
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert "hub-token" not in {v["name"] for v in pod["volumes"]}
        assert "hub-token" not in {m["name"] for m in container["volumeMounts"]}
        assert "HF_TOKEN_PATH" not in {e["name"] for e in container["env"]}

    gated = render_objects(args_for("prod", mount_hub_token=True))
    spc = by_kind(gated, "SecretProviderClass")["model-hub-token"]
    assert "/secrets/hub-token/versions/latest" in spc["spec"]["parameters"]["secrets"]
    for deployment in by_kind(gated, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["hub-token"]["csi"]["volumeAttributes"]["secretProviderClass"] == (
            "model-hub-token"
        )
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["HF_TOKEN_PATH"].startswith(mounts["hub-token"]["mountPath"] + "/")
    for version in CLUSTER_VERSIONS:
        for obj in gated:
            if obj["kind"] in CORE_KINDS:
                kubernetes_validate.validate(obj, version, strict=True)


def test_vllm_finds_a_user_name_without_a_passwd_entry(objects):
    """The upstream image has no USER and no passwd entry for the pod's UID: getpass.getuser()
    (torch/triton cache paths) reads LOGNAME/USER before the passwd database."""
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert pod["securityContext"]["runAsUser"] != 0
        assert env["USER"] and env["LOGNAME"] == env["USER"]
        assert env["HOME"].startswith("/tmp/")  # the writable emptyDir


@pytest.mark.parametrize(
    "stack, weight, warm, parked_tracks",
    [
        ("dev", 0, False, {"stable", "canary"}),
        ("prod", 0, False, {"canary"}),
        ("prod", 10, False, set()),
        # The release's warm-up: the canary runs (Ready, awaited) with no traffic.
        ("prod", 0, True, set()),
    ],
)
def test_parked_tracks_skip_the_await(stack, weight, warm, parked_tracks):
    """pulumi-kubernetes waits for a Service to target a Pod: a 0-replica track never does."""
    objects = render_objects(args_for(stack, canary_weight=weight, canary_warm=warm))
    for kind in ("Deployment", "Service"):
        for track in ("stable", "canary"):
            annotations = by_kind(objects, kind)[track_name(track)]["metadata"].get(
                "annotations", {}
            )
            expected = {SKIP_AWAIT: "true"} if track in parked_tracks else {}
            assert annotations == expected, (kind, track)
    for track in parked_tracks:
        assert by_kind(objects, "Deployment")[track_name(track)]["spec"]["replicas"] == 0


def test_await_timeout_covers_a_cold_gpu_start():
    spec = load_spec()
    startup = spec.gke.probes.startup
    window = startup.failure_threshold * startup.period_s
    assert window >= 1800  # serving.yaml allows 30 minutes to load weights
    one = await_timeout_s(spec, 1)
    assert one >= NODE_SCALE_UP_S + window > 600  # beyond the provider's 10-minute default
    assert await_timeout_s(spec, 3) - one == 2 * (one - NODE_SCALE_UP_S)  # pods roll one by one


def test_hub_token_resource_names():
    assert hub_token_resource("projects/p/secrets/s", "") == "projects/p/secrets/s/versions/latest"
    assert hub_token_resource("s", "proj") == "projects/proj/secrets/s/versions/latest"
    with pytest.raises(ValueError, match="short id needs project_id"):
        hub_token_resource("s", "")


def test_dashboard_and_alerts_use_current_vllm_metrics():
    spec = load_spec()
    rules = alert_rules(spec, "llm")
    assert set(rules) == {
        "ttft-p95",
        "e2e-latency-p95",
        "error-ratio",
        "queue-depth",
        "kv-cache-usage",
    }
    queries = " ".join(query for query, _ in rules.values())
    for metric in (
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:e2e_request_latency_seconds_bucket",
    ):
        assert metric in queries
    assert "gpu_cache_usage_perc" not in queries  # the pre-V1 name
    assert all('namespace="llm"' in query for query, _ in rules.values())
    dashboard = json.loads(dashboard_json(spec, "llm", "t"))
    tiles = dashboard["mosaicLayout"]["tiles"]
    assert len(tiles) >= 8
    assert all(
        t["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"] for t in tiles
    )


# ---------------------------------------------------------------- the Pulumi component, under mocks
def _record(args: ServingOnGkeArgs):
    from infra.recording import record
    from infra.serving import ServingOnGke

    return record("llm", "dev", "my-project", lambda: ServingOnGke("serving", args))


def test_component_declares_exactly_the_rendered_objects():
    args = args_for("staging", canary_weight=25)
    rendered = render_objects(args)
    recorded = _record(args)
    component = [r for r in recorded if r.type == "llmops:serving:ServingOnGke"]
    assert len(component) == 1
    children = [r for r in recorded if r.parent_urn == component[0].urn]
    assert len(children) == len(recorded) - 1
    k8s = {
        (r.inputs["kind"], r.inputs["metadata"]["name"]): r
        for r in children
        if r.type.startswith("kubernetes:")
    }
    assert set(k8s) == {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for obj in rendered:
        inputs = k8s[(obj["kind"], obj["metadata"]["name"])].inputs
        assert inputs["apiVersion"] == obj["apiVersion"]
        # No input silently dropped or renamed on the way through the SDK.
        for key in ("metadata", "spec", "automountServiceAccountToken"):
            if key in obj:
                assert inputs[key] == obj[key], (obj["kind"], key)
    route = k8s[("HTTPRoute", "vllm")].inputs["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in route] == [75, 25]


def _registrations(args: ServingOnGkeArgs, monkeypatch) -> dict[str, tuple[str, str]]:
    """(create, update) custom timeouts per resource, as sent to the engine."""
    from infra.recording import RecordingMonitor

    seen: dict[str, tuple[str, str]] = {}
    original = RecordingMonitor.RegisterResource

    def spy(self, request):
        timeouts = request.customTimeouts
        seen[request.name] = (timeouts.create, timeouts.update)
        return original(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    _record(args)
    return seen


def test_active_tracks_wait_for_a_cold_gpu_start(monkeypatch):
    args = args_for("prod", canary_weight=0)
    seen = _registrations(args, monkeypatch)
    wait = f"{await_timeout_s(load_spec(), args.max_replicas)}s"
    for kind in ("deployment", "service"):
        assert seen[f"serving-{kind}-vllm-stable"] == (wait, wait)
        assert seen[f"serving-{kind}-vllm-canary"] == ("", "")  # parked: skipAwait instead
    assert seen["serving-horizontalpodautoscaler-vllm-stable"] == ("", "")


def test_alerts_skip_metric_validation_and_notify_every_channel():
    existing = "projects/my-project/notificationChannels/42"
    args = args_for(
        "prod",
        alert_emails=["oncall@acme.io", "ml@acme.io"],
        alert_pubsub_topic="projects/my-project/topics/alerts",
        notification_channels=[existing],
    )
    recorded = _record(args)
    channel_type = "gcp:monitoring/notificationChannel:NotificationChannel"
    channels = [r for r in recorded if r.type == channel_type]
    assert sorted((c.inputs["type"], sorted(c.inputs["labels"].items())) for c in channels) == [
        ("email", [("email_address", "ml@acme.io")]),
        ("email", [("email_address", "oncall@acme.io")]),
        ("pubsub", [("topic", "projects/my-project/topics/alerts")]),
    ]
    alerts = [r for r in recorded if r.type == "gcp:monitoring/alertPolicy:AlertPolicy"]
    assert len(alerts) == 5
    for alert in alerts:
        condition = alert.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        # The vllm:* series do not exist before the first scrape: Monitoring would refuse.
        assert condition["disableMetricValidation"] is True
        assert sorted(alert.inputs["notificationChannels"]) == sorted(
            [c.name for c in channels] + [existing]
        )
    # Without configuration: no channel created, and the policies still validate lazily.
    bare = _record(args_for("dev"))
    assert not [r for r in bare if r.type.endswith("NotificationChannel")]


def test_component_declares_dashboard_and_alerts():
    recorded = _record(args_for("prod"))
    types = [r.type for r in recorded]
    assert types.count("gcp:monitoring/dashboard:Dashboard") == 1
    alerts = [r for r in recorded if r.type == "gcp:monitoring/alertPolicy:AlertPolicy"]
    assert len(alerts) == 5
    for alert in alerts:
        condition = alert.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        assert condition["query"] and condition["duration"].endswith("s")
        assert alert.inputs["documentation"]["content"]
    dashboard = next(r for r in recorded if r.type == "gcp:monitoring/dashboard:Dashboard")
    assert json.loads(dashboard.inputs["dashboardJson"])["mosaicLayout"]["tiles"]


def test_component_exports_each_tracks_endpoint_for_the_canary_gate():
    """The stack outputs serving_<track>_endpoint that `make canary BACKEND=gke` measures."""
    from infra.recording import record
    from infra.serving import ServingOnGke

    args = args_for("prod")
    made: list[ServingOnGke] = []
    record("llm", "dev", "my-project", lambda: made.append(ServingOnGke("serving", args)))
    services = {o["metadata"]["name"]: o for o in render_objects(args) if o["kind"] == "Service"}
    assert set(made[0].endpoints) == {"stable", "canary"}
    for track, url in made[0].endpoints.items():
        service = services[track_name(track)]
        port = service["spec"]["ports"][0]["port"]
        assert url == f"http://{track_name(track)}.{args.namespace}.svc.cluster.local:{port}/v1"


def test_a_capacity_chain_is_declared_first_and_selected_by_every_vllm_pod():
    from infra.nodepools import compute_class

    pool = (
        load_stack_config("prod")
        .gpu_pools[0]
        .model_copy(update={"capacity": ["on-demand", "spot"], "min_nodes": 0})
    )
    klass = compute_class(pool)
    objects = render_objects(args_for("prod", compute_class=klass))
    assert objects[0] == klass  # before the Pods that select it (and cluster-scoped)
    assert "namespace" not in klass["metadata"]
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["nodeSelector"]["cloud.google.com/compute-class"] == klass["metadata"]["name"]
        assert {
            "key": "cloud.google.com/compute-class",
            "operator": "Equal",
            "value": klass["metadata"]["name"],
            "effect": "NoSchedule",
        } in pod["tolerations"]
    plain = render_objects(args_for("prod"))
    assert "ComputeClass" not in {o["kind"] for o in plain}


def test_the_hpa_metric_is_served_by_the_declared_custom_metrics_adapter():
    """The HPA's Pods metric is read from custom.metrics.k8s.io, which the adapter the program
    declares (infra/metrics_adapter.py) registers: without it the HPA never scales."""
    from infra.metrics_adapter import adapter_objects

    hpa = by_kind(render_objects(args_for("prod")), "HorizontalPodAutoscaler")
    for autoscaler in hpa.values():
        (metric,) = autoscaler["spec"]["metrics"]
        assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == HPA_METRIC
    services = by_kind(adapter_objects("x"), "APIService")
    groups = {(s["spec"]["group"], s["spec"]["version"]) for s in services.values()}
    assert ("custom.metrics.k8s.io", "v1beta2") in groups


@pytest.mark.parametrize(
    ("gpu_type", "gpus", "machine"),
    [("nvidia-l4", 1, "g2-standard-8"), ("nvidia-h100-80gb", 8, "a3-highgpu-8g")],
)
def test_the_vllm_pod_requests_what_its_node_shape_leaves_it(gpu_type, gpus, machine):
    """Not a fixed 4 CPU / 16 GiB: the node's allocatable (GKE's reservation formula on the
    catalog's shape) less the DaemonSet reserve, so it fits its node and uses it."""
    from infra.catalog import load_catalog
    from infra.node_sizing import allocatable

    catalog = load_catalog()
    assert catalog.machine_type(gpu_type, gpus) == machine
    shape = catalog.gpus[gpu_type].shapes[machine]
    cpu, memory_gib = allocatable(shape.vcpus, shape.ram_gib)
    objects = render_objects(args_for("prod", gpu_type=gpu_type, gpus_per_node=gpus))
    for deployment in by_kind(objects, "Deployment").values():
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        requested_cpu = int(resources["requests"]["cpu"].removesuffix("m")) / 1000
        requested_gib = int(resources["requests"]["memory"].removesuffix("Mi")) / 1024
        assert cpu - 1.01 <= requested_cpu <= cpu - 1  # daemonset_reserve_cpu: 1
        assert memory_gib - 2.01 <= requested_gib <= memory_gib - 2
        assert resources["limits"]["memory"] == resources["requests"]["memory"]


def test_gke_allocatable_follows_the_published_reservations():
    from infra.node_sizing import allocatable

    # GKE "Plan node sizes": a 4 vCPU / 16 GiB node keeps 3920m CPU; memory reserves 25 % of
    # the first 4 GiB, 20 % of the next 4, 10 % of the next 8, plus 100 MiB for eviction.
    cpu, memory = allocatable(4, 16)
    assert round(cpu, 3) == 3.92
    assert round(memory, 3) == round(16 - (1 + 0.8 + 0.8) - 100 / 1024, 3)


def test_every_vllm_pod_checks_its_weights_against_the_manifest_first():
    """The init container runs common/weights_check.py (from its ConfigMap) on the mounted
    version; vLLM starts only if it exits 0."""
    from pathlib import Path

    from common import weights_check

    objects = render_objects(args_for("prod"))
    (config_map,) = [o for o in objects if o["metadata"]["name"] == "vllm-weights-check"]
    assert config_map["data"]["weights_check.py"] == Path(weights_check.__file__).read_text()
    for deployment in by_kind(objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        (check,) = pod["initContainers"]
        script = check["command"][1]
        assert check["command"] == ["python3", script, "/models"]
        mounts = {m["name"]: m for m in check["volumeMounts"]}
        assert script.startswith(mounts["weights-check"]["mountPath"])
        assert mounts["model"]["readOnly"] and check["image"] == pod["containers"][0]["image"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["weights-check"]["configMap"]["name"] == "vllm-weights-check"
        assert check["securityContext"]["readOnlyRootFilesystem"] is True
