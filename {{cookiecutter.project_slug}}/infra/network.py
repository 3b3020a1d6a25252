"""VPC, node subnet with pod/service secondary ranges, Cloud Router + NAT, minimal firewall."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import StackConfig

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# Google Front End / health-check ranges the Gateway's load balancer probes from.
HEALTH_CHECK_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]


class Network(pulumi.ComponentResource):
    def __init__(self, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmops:network:Network", f"{cfg.prefix}-network", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        net = cfg.network
        project, region, prefix = cfg.gcp.project_id, cfg.gcp.region, cfg.prefix

        self.vpc = gcp.compute.Network(
            f"{prefix}-vpc",
            name=f"{prefix}-vpc",
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{prefix}-nodes",
            name=f"{prefix}-nodes",
            project=project,
            region=region,
            network=self.vpc.id,
            ip_cidr_range=str(net.subnet_cidr),
            # Nodes have no public IPs; this lets them reach Google APIs (GCS, AR) privately.
            private_ip_google_access=True,
            secondary_ip_ranges=[
                {"range_name": PODS_RANGE, "ip_cidr_range": str(net.pods_cidr)},
                {"range_name": SERVICES_RANGE, "ip_cidr_range": str(net.services_cidr)},
            ],
            log_config={
                "aggregation_interval": "INTERVAL_10_MIN",
                "flow_sampling": 0.5,
                "metadata": "INCLUDE_ALL_METADATA",
            },
            opts=child,
        )
        # Envoy proxies of the regional internal Application Load Balancer (gke-l7-rilb Gateway).
        self.proxy_subnet = gcp.compute.Subnetwork(
            f"{prefix}-proxy-only",
            name=f"{prefix}-proxy-only",
            project=project,
            region=region,
            network=self.vpc.id,
            ip_cidr_range=str(net.proxy_cidr),
            purpose="REGIONAL_MANAGED_PROXY",
            role="ACTIVE",
            opts=child,
        )
        self.router = gcp.compute.Router(
            f"{prefix}-router",
            name=f"{prefix}-router",
            project=project,
            region=region,
            network=self.vpc.id,
            opts=child,
        )
        # Private nodes pull images and reach the model hub through NAT only.
        self.nat = gcp.compute.RouterNat(
            f"{prefix}-nat",
            name=f"{prefix}-nat",
            project=project,
            region=region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[{"name": self.subnet.id, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child,
        )
        internal = [
            str(net.subnet_cidr),
            str(net.pods_cidr),
            str(net.services_cidr),
            str(net.proxy_cidr),
        ]
        self.allow_internal = gcp.compute.Firewall(
            f"{prefix}-allow-internal",
            name=f"{prefix}-allow-internal",
            project=project,
            network=self.vpc.id,
            direction="INGRESS",
            source_ranges=internal,
            allows=[{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}],
            opts=child,
        )
        self.allow_health_checks = gcp.compute.Firewall(
            f"{prefix}-allow-health-checks",
            name=f"{prefix}-allow-health-checks",
            project=project,
            network=self.vpc.id,
            direction="INGRESS",
            source_ranges=HEALTH_CHECK_RANGES,
            allows=[{"protocol": "tcp"}],
            opts=child,
        )
        self.register_outputs(
            {"network": self.vpc.id, "subnet": self.subnet.id, "router": self.router.name}
        )
