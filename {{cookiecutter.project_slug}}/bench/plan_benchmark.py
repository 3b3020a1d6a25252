"""Wall time of `make plan` per committed stack (target: under 5 s).

Each stack is planned in a fresh process (`python -m infra.plan`, imports included, as
`make plan` runs it), REPEAT times; then the recording alone, warm, in this process.
Run: `make bench-plan` (env: infra). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.config import load_stack_config  # noqa: E402
from infra.plan import record_stack  # noqa: E402
from infra.stacks import stack_names  # noqa: E402

STACKS = tuple(stack_names())
REPEAT = int(os.environ.get("REPEAT", "3"))
TARGET_S = 5.0


def cold(stacks: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `python -m infra.plan` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "infra.plan", *(f"--stack={s}" for s in stacks), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def warm(stack: str) -> tuple[float, int]:
    cfg = load_stack_config(stack)
    start = time.perf_counter()
    resources = record_stack(cfg)
    return time.perf_counter() - start, len(resources)


def main() -> None:
    load = os.getloadavg()[0]
    print(f"plan wall time, {REPEAT} runs per stack, {os.cpu_count()} CPUs, load {load:.1f}")
    # CPU time is what a plan costs on an idle core; wall time also counts waiting for one.
    header = f"{'stack':8} {'resources':>9} {'wall median s':>14} {'wall min s':>11}"
    print(f"{header} {'cpu median s':>13} {'warm s':>7}  target {TARGET_S:.0f} s")
    warm("dev")  # import the SDKs once for the warm figures
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            runs = [cold([stack], Path(tmp)) for _ in range(REPEAT)]
            walls = [wall for wall, _ in runs]
            cpu = statistics.median(c for _, c in runs)
            seconds, count = warm(stack)
            verdict = "ok" if statistics.median(walls) < TARGET_S else "over (wall)"
            print(
                f"{stack:8} {count:>9} {statistics.median(walls):>14.2f} {min(walls):>11.2f}"
                f" {cpu:>13.2f} {seconds:>7.2f}  {verdict}"
            )
        wall, cpu = cold(list(STACKS), Path(tmp))
        print(
            f"all {len(STACKS)} stacks in one process (make plan-all): "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU"
        )


if __name__ == "__main__":
    main()
