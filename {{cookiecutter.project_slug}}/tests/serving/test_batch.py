"""Batch inference without an engine: input validation, outputs, engine arguments, the compiled
Vertex spec (pipelines/batch.py, pipelines/batch_pipeline.py, pipelines/run_batch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from common.model_digest import model_digest
from common.project import load_project
from infra.node_sizing import vllm_pod_size
from pipelines import batch, run_batch
from pipelines.batch import BatchInputError, parse_requests
from serving.spec import load_spec


def lines(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_inputs_and_chats_become_chat_messages_in_order():
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    requests = parse_requests(
        lines(
            {"id": "a", "input": "where is my parcel?"},
            "",
            {"messages": chat},
            {"id": 7, "input": "x"},
        )
    )
    assert [(r.line, r.id) for r in requests] == [(1, "a"), (3, 3), (4, 7)]
    assert requests[0].messages == [{"role": "user", "content": "where is my parcel?"}]
    assert requests[1].messages == chat and requests[1].input == chat


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        ({"input": "x", "prompt": "y"}, "line 2: unknown field(s) prompt: allowed are id, input"),
        ({"id": "b"}, 'line 2: give exactly one of "input"'),
        ({"input": "x", "messages": []}, 'line 2: give exactly one of "input"'),
        ({"input": "  "}, 'line 2: "input" must be a non-empty string'),
        ({"input": 3}, 'line 2: "input" must be a non-empty string'),
        ({"messages": [{"role": "bot", "content": "x"}]}, "line 2: \"messages\"[0].role='bot'"),
        ({"messages": [{"role": "user"}]}, 'exactly "role" and "content"'),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            'must end with a "user" message',
        ),
        ({"id": True, "input": "x"}, 'line 2: "id" must be a string or an integer'),
        ({"id": "", "input": "x"}, 'line 2: "id" must not be empty'),
        ({"id": "a", "input": "x"}, "line 2: \"id\" 'a' is already used on line 1"),
    ],
)
def test_a_bad_line_is_named_with_its_number_and_the_fix(row, expected):
    with pytest.raises(BatchInputError) as error:
        parse_requests(lines({"id": "a", "input": "fine"}, row), "in.jsonl")
    assert str(error.value).startswith("in.jsonl: 1 bad line(s), nothing was scored")
    assert expected in str(error.value)


def test_every_bad_line_is_reported_not_only_the_first():
    text = lines(*[{"input": "ok"} if n % 2 else {"text": "old"} for n in range(60)])
    with pytest.raises(BatchInputError) as error:
        parse_requests(text)
    message = str(error.value)
    assert "30 bad line(s)" in message and "line 1:" in message and "line 39:" in message
    assert "... and 10 more" in message


def test_an_empty_input_is_refused():
    with pytest.raises(BatchInputError, match="no requests"):
        parse_requests("\n\n")


def test_bad_input_exits_2_naming_the_line_and_writes_nothing(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(lines({"input": "ok"}, {"input": "ok"}, "{oops"))
    out = tmp_path / "out"
    code = run_batch.main(["--input", str(source), "--output", str(out), "--model", "nowhere/x"])
    assert code == 2
    assert "line 3: not valid JSON" in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_input_or_model_exits_2(tmp_path, capsys):
    assert run_batch.main(["--input", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "in.jsonl").write_text(lines({"input": "ok"}))
    model = str(tmp_path / "no-model")
    assert run_batch.main(["--input", str(tmp_path / "in.jsonl"), "--model", model]) == 2
    assert "not a model directory" in capsys.readouterr().err


def test_outputs_are_written_summary_last_and_a_stale_summary_never_survives(tmp_path, monkeypatch):
    rows = [{"id": 1, "line": 1, "input": "x", "output": "intent: billing"}]
    summary = batch.write_outputs(str(tmp_path), rows, {"counts": {"requests": 1}})
    written = json.loads((tmp_path / batch.SUMMARY).read_text())
    assert written == json.loads(json.dumps(summary))
    assert [json.loads(x) for x in (tmp_path / batch.PREDICTIONS).read_text().splitlines()] == rows
    assert written["outputs"]["predictions_sha256"] == batch.sha256_text(
        (tmp_path / batch.PREDICTIONS).read_text()
    )

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(batch, "write_atomic", crash)
    with pytest.raises(OSError):
        batch.write_outputs(str(tmp_path), rows * 2, {})
    # The old predictions stay whole, and no summary vouches for a half-done run.
    assert len((tmp_path / batch.PREDICTIONS).read_text().splitlines()) == 1
    assert not (tmp_path / batch.SUMMARY).exists()


def published(tmp_path: Path) -> Path:
    """A version in the model bucket's layout, with the manifest publish_model writes."""
    from pipelines.publish_model import file_manifest

    version = tmp_path / "models" / "m" / "3"
    version.mkdir(parents=True)
    (version / "config.json").write_text("{}")
    (version / "model.safetensors").write_bytes(b"weights")
    manifest = {"model": "m", "version": "3", "files": file_manifest(version)}
    (version / batch.MANIFEST).write_text(json.dumps(manifest))
    return version


def test_a_published_version_carries_its_version_and_digest(tmp_path):
    version = published(tmp_path)
    resolved = batch.resolve(str(version))
    assert resolved["model_version"] == "3" and resolved["registered_model"] == "m"
    assert resolved["model_digest"] == model_digest(version)
    (version / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(BatchInputError, match=r"do not match MANIFEST\.json"):
        batch.resolve(str(version))


def test_engine_arguments_are_the_servers_parsed_by_vllm(tmp_path):
    """The offline engine gets what `make serve` (CPU) or a GKE pod (GPUs) gets, via vLLM's own
    server argument parser, so a wrong flag in serving.yaml fails here as it fails there."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    spec = load_spec()

    def parsed(gpus: int) -> EngineArgs:
        # An existing directory: vLLM treats anything else as a Hugging Face repo id to resolve.
        argv = batch.engine_argv(spec, str(tmp_path), "svc", gpus)
        return EngineArgs.from_cli_args(make_arg_parser(FlexibleArgumentParser()).parse_args(argv))

    cpu, gpu = parsed(0), parsed(4)
    for args in (cpu, gpu):
        assert args.model == str(tmp_path) and args.served_model_name == ["svc"]
        assert args.max_model_len == spec.engine.max_model_len
        assert args.max_num_seqs == spec.engine.max_num_seqs
        assert args.seed == spec.engine.seed and args.dtype == spec.engine.dtype
        assert args.enable_prefix_caching is spec.engine.enable_prefix_caching
    assert cpu.tensor_parallel_size == 1 and gpu.tensor_parallel_size == 4
    assert gpu.gpu_memory_utilization == spec.gpu.gpu_memory_utilization


def test_the_compiled_spec_runs_the_step_in_the_batch_image_on_the_serving_gpu(tmp_path):
    from pipelines.batch_pipeline import BATCH_IMAGE, compile_pipeline, vertex_accelerator

    spec = yaml.safe_load(compile_pipeline(tmp_path / "batch.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "llmops-batch"
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"batch-score"}
    assert tasks["batch-score"]["cachingOptions"] == {}  # writes outputs: never from the cache
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {"input_uri", "output_uri", "model", "max_tokens", "temperature"}
    assert "defaultValue" not in params["model"]
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["image"] == BATCH_IMAGE
    assert "pip install" not in " ".join(container["command"])
    project = load_project()
    size = vllm_pod_size(project.gpu.type, project.gpu.per_node, load_spec().gke.resources)
    accelerator = container["resources"]["accelerator"]
    assert accelerator["resourceType"] == vertex_accelerator(project.gpu.type)
    assert accelerator["resourceCount"] == str(project.gpu.per_node)
    assert container["resources"]["resourceCpuLimit"] == size.cpu


def test_every_catalog_gpu_has_a_vertex_accelerator_name():
    from infra.catalog import load_catalog
    from pipelines.batch_pipeline import vertex_accelerator

    names = {gpu: vertex_accelerator(gpu) for gpu in load_catalog().gpu_types}
    assert names["nvidia-l4"] == "NVIDIA_L4"
    assert names["nvidia-h100-80gb"] == "NVIDIA_H100_80GB"
    with pytest.raises(ValueError, match="no accelerator"):
        vertex_accelerator("nvidia-gtx-1080")
