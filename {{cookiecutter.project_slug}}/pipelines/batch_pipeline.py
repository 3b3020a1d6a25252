"""The batch inference pipeline (KFP v2): one component that scores a JSONL file with vllm.LLM.

The component is a thin wrapper around pipelines.batch.batch_step. On Vertex AI Pipelines it runs
in the batch image (pipelines/Dockerfile.batch: the pinned vLLM serving image plus this project's
code and kfp) on the project's GPU type; on this machine the KFP local runner runs it in the
`serving` env, vLLM's CPU build (`make batch`). Same code: the machine decides the engine
arguments (GKE's on GPUs, `make serve`'s on the CPU, pipelines/batch.py).
Compile: `python -m pipelines.batch_pipeline --out build/pipelines/batch_pipeline.yaml`.
"""

# No `from __future__ import annotations`: KFP reads the component signatures' real types.
import argparse
import os
from pathlib import Path

from kfp import compiler, dsl

from common.project import load_project
from infra.node_sizing import vllm_pod_size
from pipelines.pipeline import default_image
from pipelines.task import MAX_ANSWER_TOKENS
from serving.spec import load_spec

PIPELINE_NAME = "llmops-batch"
# Workflows build the image, tag it with the git SHA and compile with BATCH_IMAGE set to it.
BATCH_IMAGE = os.environ.get("BATCH_IMAGE") or default_image(name="batch")
# Vertex AI's AcceleratorType names for NVIDIA GPUs (REST reference, MachineSpec:
# https://cloud.google.com/vertex-ai/docs/reference/rest/v1/MachineSpec#acceleratortype).
VERTEX_GPUS = frozenset(
    {
        "NVIDIA_TESLA_P100",
        "NVIDIA_TESLA_V100",
        "NVIDIA_TESLA_P4",
        "NVIDIA_TESLA_T4",
        "NVIDIA_TESLA_A100",
        "NVIDIA_A100_80GB",
        "NVIDIA_L4",
        "NVIDIA_H100_80GB",
        "NVIDIA_H100_MEGA_80GB",
        "NVIDIA_H200_141GB",
        "NVIDIA_B200",
    }
)


def vertex_accelerator(gke_gpu_type: str) -> str:
    """The Vertex name of a GKE/Compute accelerator (`nvidia-l4` -> `NVIDIA_L4`): Vertex's enum is
    the Compute accelerator name upper-cased with underscores, for every GPU in the catalog."""
    name = gke_gpu_type.upper().replace("-", "_")
    if name not in VERTEX_GPUS:
        raise ValueError(f"gpu.type={gke_gpu_type!r}: Vertex AI has no accelerator {name!r}")
    return name


@dsl.component(base_image=BATCH_IMAGE, install_kfp_package=False)
def batch_score(
    input_uri: str, output_uri: str, model: str, max_tokens: int, temperature: float
) -> str:
    """Validate every line, score them all with vllm.LLM, write predictions + summary."""
    import json

    from pipelines.batch import batch_step

    summary = batch_step(input_uri, output_uri, model, max_tokens, temperature)
    print(f"scored {summary['counts']['requests']} requests: {json.dumps(summary['throughput'])}")
    return json.dumps(summary)


@dsl.pipeline(name=PIPELINE_NAME, description="score a JSONL file with vLLM's offline engine")
def batch_pipeline(
    input_uri: str,
    output_uri: str,
    model: str,
    max_tokens: int = MAX_ANSWER_TOKENS,
    temperature: float = 0.0,
) -> str:
    task = batch_score(
        input_uri=input_uri,
        output_uri=output_uri,
        model=model,
        max_tokens=max_tokens,
        temperature=temperature,
    ).set_display_name("batch score")
    task.set_caching_options(False)  # writes outputs: a side effect, never reused
    # The serving GPU and count (llmops.yaml gpu.*, = tensor parallelism on GKE) and the serving
    # pod's CPU/memory (derived from that GPU node's shape, infra/node_sizing.py), so a model
    # that serves also batch-scores.
    # KFP 2.16 PipelineTask.set_accelerator_type takes Vertex's name ("such as
    # 'NVIDIA_TESLA_K80'", kfp/dsl/pipeline_task.py) and set_accelerator_limit the count; Vertex
    # picks the machine from them ("Specify the machine configuration for a pipeline step",
    # https://cloud.google.com/vertex-ai/docs/pipelines/machine-types). The local runner ignores
    # them and the step finds no GPU: the same code then takes the CPU arguments.
    project = load_project()
    size = vllm_pod_size(project.gpu.type, project.gpu.per_node, load_spec().gke.resources)
    task.set_accelerator_type(vertex_accelerator(project.gpu.type))
    task.set_accelerator_limit(project.gpu.per_node)
    task.set_cpu_limit(size.cpu).set_memory_limit(size.memory)
    return task.output


def compile_pipeline(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(batch_pipeline, package_path=str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile the batch pipeline to IR YAML.")
    parser.add_argument("--out", type=Path, default=Path("build/pipelines/batch_pipeline.yaml"))
    args = parser.parse_args(argv)
    print(f"compiled {compile_pipeline(args.out)} (image {BATCH_IMAGE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
