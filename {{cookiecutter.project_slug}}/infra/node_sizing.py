"""What a vLLM Pod may request on its GPU node: the machine's shape (catalog) less what GKE keeps.

One vLLM Pod takes every GPU of its node, so it should also take the node's CPU and memory
(tokenisation, the scheduler, CUDA graphs and pinned host memory all scale with the machine):
a fixed 4 CPU / 16 GiB wastes most of an a3-highgpu-8g and does not fit a g2-standard-4. GKE
reserves part of every node for the kubelet and the OS, by a published formula (GKE "Plan node
sizes": memory and CPU reservations, and a 100 MiB eviction threshold), and GKE's own
DaemonSets (logging, metrics, the GPU device plugin, CSI drivers) take a little more: the
`daemonset_reserve_*` of serving/serving.yaml, which also absorbs the kernel's share of the
machine's memory (a 16 GiB node reports ~0.4 GiB less allocatable than the formula) and Image
streaming's own memory reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.catalog import load_catalog

if TYPE_CHECKING:
    from serving.spec import Resources

# (size of the band, share GKE reserves of it), from the first GiB / core up.
MEMORY_BANDS_GIB = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
CPU_BANDS = ((1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025))
EVICTION_THRESHOLD_GIB = 100 / 1024


def _reserved(total: float, bands: tuple[tuple[float, float], ...]) -> float:
    reserved, left = 0.0, total
    for size, share in bands:
        part = min(left, size)
        reserved += part * share
        left -= part
        if left <= 0:
            break
    return reserved


def allocatable(vcpus: float, ram_gib: float) -> tuple[float, float]:
    """(CPU cores, memory GiB) GKE leaves to Pods on a node of this shape."""
    cpu = vcpus - _reserved(vcpus, CPU_BANDS)
    memory = ram_gib - _reserved(ram_gib, MEMORY_BANDS_GIB) - EVICTION_THRESHOLD_GIB
    return cpu, memory


@dataclass(frozen=True)
class PodSize:
    cpu_millis: int
    memory_mib: int

    @property
    def cpu(self) -> str:
        return f"{self.cpu_millis}m"

    @property
    def memory(self) -> str:
        return f"{self.memory_mib}Mi"


def vllm_pod_size(gpu_type: str, gpus_per_node: int, resources: Resources) -> PodSize:
    """The requests of the one vLLM Pod on a node of this GPU pool (rounded down)."""
    reserve_cpu, reserve_memory_gib = (
        resources.daemonset_reserve_cpu,
        resources.daemonset_reserve_memory_gib,
    )
    catalog = load_catalog()
    machine = catalog.machine_type(gpu_type, gpus_per_node)
    shape = catalog.gpus[gpu_type].shapes[machine]
    cpu, memory = allocatable(shape.vcpus, shape.ram_gib)
    size = PodSize(int((cpu - reserve_cpu) * 1000), int((memory - reserve_memory_gib) * 1024))
    if size.cpu_millis < 1000 or size.memory_mib < 4096:
        raise ValueError(
            f"{machine} ({shape.vcpus} vCPU, {shape.ram_gib} GiB) leaves {size.cpu} CPU and"
            f" {size.memory} memory to vLLM after GKE's reservations and daemonset_reserve;"
            " lower serving.yaml gke.daemonset_reserve or choose a larger shape"
        )
    return size
