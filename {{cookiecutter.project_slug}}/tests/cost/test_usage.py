"""The usage file: the shipped one loads; bad ones name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cost.usage import USAGE_FILE, UsageError, load_usage


def test_shipped_usage_file_loads() -> None:
    usage = load_usage()
    assert 0 < usage.utilisation <= 1
    assert usage.users.requests_per_month == pytest.approx(
        usage.users.requests_per_user_per_day * usage.users.days_per_month
    )
    # bf16: 2 bytes per parameter; K and V per layer and KV head.
    assert usage.model.weight_bytes == pytest.approx(usage.model.parameters_billion * 2e9)
    model = usage.model
    assert model.kv_bytes_per_token == 2 * model.layers * model.kv_heads * model.head_dim * 2


def write(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(USAGE_FILE.read_text())
    change(document)
    path = tmp_path / "usage.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(utilisation=0), "utilisation"),
        (
            lambda d: d["users"].update(output_tokens_per_request=0),
            "users.output_tokens_per_request",
        ),
        (lambda d: d["users"].pop("requests_per_user_per_day"), "users.requests_per_user_per_day"),
        (lambda d: d["model"].update(dtype="int3"), "model.dtype"),
        (lambda d: d["infra"].update(logging_gb=5), "infra.logging_gb"),
        (lambda d: d["infra"]["bucket_gib"].update(models=-1), "infra.bucket_gib.models"),
    ],
)
def test_bad_field_is_named_with_the_fix(tmp_path: Path, change, field: str) -> None:
    with pytest.raises(UsageError) as error:
        load_usage(write(tmp_path, change))
    assert field in str(error.value) and "Fix them in that file" in str(error.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_usage(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("utilisation: [\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_usage(bad)
