"""Upper bounds on what a GPU node can serve, from its datasheet (catalog `hardware`).

Decode is memory-bound: every step reads all weights once plus each running sequence's KV
cache, and yields one token per sequence:
    decode tokens/s <= bandwidth x GPUs / (weight bytes + batch x KV bytes per sequence) x batch
Prefill is compute-bound: about 2 x parameters FLOPs per input token:
    prefill tokens/s <= dense BF16 peak x GPUs / (2 x parameters)
Both ignore attention FLOPs, kernel efficiency, scheduling and communication, so real servers
reach a fraction of them: they are bounds, never measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cost.usage import ModelShape
from infra.catalog import GpuHardware


@dataclass(frozen=True)
class Roofline:
    decode_tokens_per_s: float
    prefill_tokens_per_s: float
    batch: int  # sequences decoded together
    batch_note: str
    context_tokens: float  # mean tokens in context while decoding
    bytes_per_step: float
    assumptions: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RooflineError(ValueError):
    """No bound can be given (the model does not fit the node); the message says why."""


def roofline(
    hardware: GpuHardware,
    gpus: int,
    model: ModelShape,
    batch: int,
    input_tokens: int,
    output_tokens: int,
    memory_utilisation: float,
) -> Roofline:
    memory = hardware.memory_gb * 1e9 * gpus * memory_utilisation
    if model.weight_bytes > memory:
        raise RooflineError(
            f"{model.name}: {model.weight_bytes / 1e9:.1f} GB of {model.dtype} weights do not fit "
            f"{gpus} x {hardware.memory_gb:g} GB at gpu_memory_utilization {memory_utilisation:g}"
        )
    # Mean context while decoding: the prompt plus half the answer.
    context = input_tokens + output_tokens / 2
    kv_per_sequence = model.kv_bytes_per_token * context
    fits = int((memory - model.weight_bytes) // kv_per_sequence) if kv_per_sequence else batch
    if fits < 1:
        raise RooflineError(
            f"{model.name}: no room for one sequence's KV cache ({kv_per_sequence / 1e9:.2f} GB "
            f"at {context:.0f} tokens) beside the weights"
        )
    used = min(batch, fits)
    note = (
        f"{used} sequences (serving max_num_seqs)"
        if used == batch
        else f"{used} sequences: the KV cache of more does not fit (max_num_seqs is {batch})"
    )
    step = model.weight_bytes + used * kv_per_sequence
    bandwidth = hardware.memory_bandwidth_gb_s * 1e9 * gpus
    decode = bandwidth / step * used
    prefill = hardware.bf16_dense_tflops * 1e12 * gpus / (2 * model.parameters_billion * 1e9)
    return Roofline(
        decode_tokens_per_s=decode,
        prefill_tokens_per_s=prefill,
        batch=used,
        batch_note=note,
        context_tokens=context,
        bytes_per_step=step,
        assumptions=[
            f"model {model.name}: {model.parameters_billion:g}B parameters in {model.dtype} "
            f"({model.weight_bytes / 1e9:.1f} GB), KV cache {model.kv_cache_dtype} "
            f"({model.kv_bytes_per_token / 1e3:.0f} kB per token: 2 x {model.layers} layers x "
            f"{model.kv_heads} KV heads x {model.head_dim})",
            f"{gpus} GPU(s) x {hardware.memory_bandwidth_gb_s:g} GB/s, "
            f"{hardware.bf16_dense_tflops:g} dense BF16 TFLOPS, {hardware.memory_gb:g} GB "
            f"({hardware.source})",
            f"batch {note}; mean context {context:.0f} tokens (prompt + half the answer)",
            "decode reads all weights + every sequence's KV cache once per step; prefill "
            "costs 2 x parameters FLOPs per token; no kernel, scheduling or communication losses",
        ],
    )
