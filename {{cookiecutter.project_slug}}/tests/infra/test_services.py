"""services: required APIs, never disabled on destroy."""

from infra_helpers import of_type, run_recorded

from infra.services import Services, required_apis


def test_services(dev):
    rec = run_recorded(dev, lambda: Services(dev))
    assert rec[f"{dev.prefix}-services"].type == "llmops:services:Services"
    services = of_type(rec, "gcp:projects/service:Service")
    assert sorted(s.inputs["service"] for s in services) == required_apis(dev)
    assert "aiplatform.googleapis.com" in required_apis(dev)
    assert "bigquery.googleapis.com" in required_apis(dev)  # the request-log export
    assert all(s.inputs["disableOnDestroy"] is False for s in services)


def test_vertex_api_only_when_enabled(dev):
    cfg = dev.model_copy(update={"vertex": dev.vertex.model_copy(update={"enabled": False})})
    assert "aiplatform.googleapis.com" not in required_apis(cfg)
