"""The price table: known rows, spot vs on-demand, unknown machines and regions refused."""

import pytest

from policies.pricing import UnknownPriceError, load_prices


def test_known_rows():
    prices = load_prices()
    assert prices.date == "2026-07-30"
    row = prices.price("g2-standard-8", "us-central1")
    assert row.gpu_type == "l4" and row.gpu_count == 1
    assert prices.monthly("g2-standard-8", "us-central1", spot=False) == pytest.approx(623.14571783)
    assert prices.monthly("g2-standard-8", "us-central1", spot=True) == pytest.approx(350.30656)
    assert prices.hourly("a3-highgpu-8g", "us-central1", spot=False) > 80
    assert prices.price("a2-ultragpu-1g", "us-central1").month_1y_cud is None


@pytest.mark.parametrize(
    ("machine", "region"), [("n1-standard-4", "us-central1"), ("g2-standard-8", "mars-1")]
)
def test_unknown_is_refused(machine, region):
    with pytest.raises(UnknownPriceError) as caught:
        load_prices().monthly(machine, region, spot=False)
    assert machine in str(caught.value) and region in str(caught.value)


def test_malformed_table_is_refused(tmp_path):
    bad = tmp_path / "gcp_gpu_prices_2026-01-01.csv"
    bad.write_text("machine,gpu_type\nx,y\n")
    with pytest.raises(ValueError, match="malformed price row"):
        load_prices(bad)
