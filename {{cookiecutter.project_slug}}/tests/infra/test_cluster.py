"""cluster: hardened GKE with the default pool removed, a system pool, and a kubeconfig."""

import json

import pulumi
from infra_helpers import config_from, run_recorded, stack_values

from infra.cluster import Cluster, ClusterArgs, kubeconfig
from infra.recording import RecordingMonitor

NODES_SA = "nodes@p.iam.gserviceaccount.com"


def test_cluster(dev):
    seen = {}

    def program():
        cluster = Cluster(
            dev, ClusterArgs(network="vpc-id", subnet="subnet-id", nodes_service_account=NODES_SA)
        )
        cluster.kubeconfig.apply(lambda text: seen.setdefault("kubeconfig", text))

    rec = run_recorded(dev, program)
    component = rec[f"{dev.prefix}-cluster"]
    assert component.type == "llmops:cluster:Cluster"
    gke = rec[f"{dev.prefix}-gke"].inputs
    assert gke["removeDefaultNodePool"] is True
    assert gke["workloadIdentityConfig"]["workloadPool"] == f"{dev.gcp.project_id}.svc.id.goog"
    assert gke["privateClusterConfig"]["enablePrivateNodes"] is True
    # No public IP endpoint by default: clients (CI included) use the DNS endpoint with IAM.
    assert gke["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert gke["controlPlaneEndpointsConfig"] == {
        "dnsEndpointConfig": {"allowExternalTraffic": True},
        "ipEndpointsConfig": {"enabled": True},
    }
    assert "masterAuthorizedNetworksConfig" not in gke
    assert gke["enableShieldedNodes"] is True
    assert gke["releaseChannel"]["channel"] == dev.cluster.release_channel
    assert gke["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert gke["gatewayApiConfig"]["channel"] == "CHANNEL_STANDARD"
    assert gke["addonsConfig"]["gcsFuseCsiDriverConfig"]["enabled"] is True
    assert gke["secretManagerConfig"]["enabled"] is True
    assert gke["loggingConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "WORKLOADS"]
    assert gke["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert gke["resourceLabels"]["environment"] == "dev"
    # The temporary default pool runs as the nodes identity, not the Compute Engine default SA,
    # and its config never plans a cluster replacement once the pool is gone.
    assert gke["nodeConfig"]["serviceAccount"] == NODES_SA
    assert gke["nodeConfig"]["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
    assert "guestAccelerators" not in gke["nodeConfig"]

    system = rec[f"{dev.prefix}-system"]
    assert system.parent_urn == component.urn
    assert system.inputs["cluster"] == dev.prefix
    assert system.inputs["nodeConfig"]["serviceAccount"] == NODES_SA
    assert system.inputs["nodeConfig"]["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
    assert "guestAccelerators" not in system.inputs["nodeConfig"]

    config = json.loads(seen["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert pulumi  # the kubeconfig output is secret; only its shape is checked here


def test_default_pool_config_changes_never_replace_the_cluster(dev, monkeypatch):
    """`ignoreChanges: [nodeConfig]` reaches the engine (the mocks do not record options)."""
    seen = {}
    original = RecordingMonitor.RegisterResource

    def spy(self, request):
        seen[request.name] = list(request.ignoreChanges)
        return original(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", spy)
    args = ClusterArgs(network="vpc-id", subnet="subnet-id", nodes_service_account=NODES_SA)
    run_recorded(dev, lambda: Cluster(dev, args))
    assert seen[f"{dev.prefix}-gke"] == ["nodeConfig"]
    assert seen[f"{dev.prefix}-system"] == []


def test_authorized_networks_open_the_public_ip_endpoint_to_them_only():
    values = stack_values()
    values["cluster"]["master_authorized_networks"] = [{"name": "office", "cidr": "203.0.113.0/24"}]
    cfg = config_from(values)
    args = ClusterArgs(network="vpc-id", subnet="subnet-id", nodes_service_account=NODES_SA)
    gke = run_recorded(cfg, lambda: Cluster(cfg, args))[f"{cfg.prefix}-gke"].inputs
    assert gke["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert gke["masterAuthorizedNetworksConfig"] == {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "office"}]
    }
    assert gke["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"]


def test_kubeconfig_names_the_dns_endpoint_when_gke_reports_one(dev):
    seen = {}

    def program():
        out = kubeconfig(
            pulumi.Output.from_input("c"),
            pulumi.Output.from_input("10.0.0.2"),
            pulumi.Output.from_input({"cluster_ca_certificate": "Y2E="}),
            pulumi.Output.from_input({"dns_endpoint_config": {"endpoint": "gke-1.r.gke.goog"}}),
        )
        out.apply(lambda text: seen.setdefault("config", json.loads(text)))

    run_recorded(dev, program)
    # Served with a publicly trusted certificate: no CA data, the auth plugin supplies tokens.
    assert seen["config"]["clusters"][0]["cluster"] == {"server": "https://gke-1.r.gke.goog"}
