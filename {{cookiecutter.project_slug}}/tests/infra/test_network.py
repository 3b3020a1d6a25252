"""network: VPC, node subnet with secondary ranges, proxy-only subnet, router + NAT, firewall."""

from infra_helpers import of_type, run_recorded

from infra.network import Network


def test_network(dev):
    rec = run_recorded(dev, lambda: Network(dev))
    component = rec[f"{dev.prefix}-network"]
    assert component.type == "llmops:network:Network"
    assert all(r.parent_urn == component.urn for r in rec.values() if r.custom)
    assert all(name.startswith(dev.prefix) for name in rec)

    vpc = rec[f"{dev.prefix}-vpc"].inputs
    assert vpc["autoCreateSubnetworks"] is False
    subnet = rec[f"{dev.prefix}-nodes"].inputs
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["network"] == f"{dev.prefix}-vpc-id"
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
        "pods": str(dev.network.pods_cidr),
        "services": str(dev.network.services_cidr),
    }
    proxy = rec[f"{dev.prefix}-proxy-only"].inputs
    assert proxy["purpose"] == "REGIONAL_MANAGED_PROXY"
    nat = rec[f"{dev.prefix}-nat"].inputs
    assert nat["router"] == f"{dev.prefix}-router"
    assert nat["subnetworks"][0]["name"] == f"{dev.prefix}-nodes-id"
    firewalls = of_type(rec, "gcp:compute/firewall:Firewall")
    assert {f.name for f in firewalls} == {
        f"{dev.prefix}-allow-internal",
        f"{dev.prefix}-allow-health-checks",
    }
    assert all("0.0.0.0/0" not in f.inputs["sourceRanges"] for f in firewalls)
