"""Wall time of `make plan` per committed stack (target: under 5 s).

Each stack is planned in a fresh process (`python -m infra.plan`, imports included, as
`make plan` runs it), REPEAT times; then the recording alone, warm, in this process.
Run: `make bench-plan` (env: infra). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
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

STACKS = ("dev", "staging", "prod")
REPEAT = int(os.environ.get("REPEAT", "3"))
TARGET_S = 5.0


def cold(stack: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "infra.plan", "--stack", stack, "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def warm(stack: str) -> tuple[float, int]:
    cfg = load_stack_config(stack)
    start = time.perf_counter()
    resources = record_stack(cfg)
    return time.perf_counter() - start, len(resources)


def main() -> None:
    load = os.getloadavg()[0]
    print(f"plan wall time, {REPEAT} runs per stack, {os.cpu_count()} CPUs, load {load:.1f}")
    header = f"{'stack':8} {'resources':>9} {'cold median s':>14} {'cold min s':>11}"
    print(f"{header} {'warm s':>7}  target")
    warm("dev")  # import the SDKs once for the warm figures
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            times = [cold(stack, Path(tmp)) for _ in range(REPEAT)]
            seconds, count = warm(stack)
            verdict = "ok" if statistics.median(times) < TARGET_S else f"over {TARGET_S:.0f} s"
            print(
                f"{stack:8} {count:>9} {statistics.median(times):>14.2f} {min(times):>11.2f}"
                f" {seconds:>7.2f}  {verdict}"
            )


if __name__ == "__main__":
    main()
