"""Calibrate the monitor's thresholds (policies/gates.yaml `monitoring:`) on a real server's log.

    python bench/monitor_calibration.py [--model build/test-model] [--windows 40]
                                        [--sizes 50,100,200]

Serves MODEL locally (`make serve`), records the reference (held-out `test` split), sends the
`validation` split (in-distribution: messages the reference does not hold) and the shifted
example window, then judges many windows drawn from each (bootstrap, seeded) at several sizes.
Prints, per signal and window size, the threshold beside the in-distribution 95th percentile
and maximum, and the shifted windows' minimum: a threshold is sound when it sits between the
in-distribution maximum and the shifted minimum with room on both sides. Run from the project
root with the monitor env (`make bench-monitor`).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import cli  # noqa: E402
from monitor.demo import SHIFTED  # noqa: E402
from monitor.logs import read_log  # noqa: E402
from monitor.reference import load_reference  # noqa: E402
from monitor.run import judge  # noqa: E402
from policies.gates import load_gates  # noqa: E402
from serving.spec import load_spec  # noqa: E402

NAME = "bench-monitor"
DATASET = ROOT / "pipelines" / "data" / "intents.jsonl"


def make(*args: str) -> None:
    subprocess.run(["make", "-s", *args], cwd=ROOT, check=True)


def edge() -> datetime:
    time.sleep(0.01)
    return datetime.now(UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "test-model"))
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--sizes", default="50,100,200")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    gates = load_gates().monitoring
    slo = load_spec().monitoring.e2e_p95_seconds
    out = ROOT / "build" / "bench-monitor"
    make("serve", f"MODEL={args.model}", f"NAME={NAME}")
    try:
        state = json.loads((ROOT / "build" / "serving" / f"{NAME}.json").read_text())
        reference_path = out / "reference.json"
        traffic = ["traffic", "--name", NAME, "--file"]
        assert (
            cli.main(
                [
                    "reference",
                    "--name",
                    NAME,
                    "--training-data",
                    str(DATASET),
                    "--out",
                    str(reference_path),
                ]
            )
            == 0
        )
        start = edge()
        assert cli.main([*traffic, str(DATASET), "--split", "validation"]) == 0
        middle = edge()
        assert cli.main([*traffic, str(SHIFTED)]) == 0
        end = edge()
    finally:
        make("serve-stop", f"NAME={NAME}")
    reference = load_reference(reference_path)
    log = Path(state["log"])
    pools = {"in": read_log(log, start, middle), "shifted": read_log(log, middle, end)}
    rng = random.Random(0)
    rows = []
    for size in sizes:
        stats: dict[str, dict[str, list[float]]] = {}
        for kind, readout in pools.items():
            for _ in range(args.windows):
                window = rng.choices(readout.requests, k=size)
                summary = judge(
                    readout.model_copy(update={"requests": window}), reference, gates, slo
                )
                for signal in summary["signals"]:
                    if signal["value"] is not None:
                        stats.setdefault(signal["name"], {}).setdefault(kind, []).append(
                            abs(signal["value"])
                            if signal["name"] == "refusal_rate"
                            else signal["value"]
                        )
        for name, by_kind in stats.items():
            threshold = next(s["threshold"] for s in summary["signals"] if s["name"] == name)
            inside, shifted = by_kind.get("in", [0.0]), by_kind.get("shifted", [0.0])
            rows.append(
                (name, size, threshold, percentile(inside, 0.95), max(inside), min(shifted))
            )
    print(
        f"{len(pools['in'].requests)} in-distribution and {len(pools['shifted'].requests)} "
        f"shifted requests logged; {args.windows} bootstrap windows per size and kind\n"
    )
    print(
        "| signal | window | threshold | in-distribution p95 | in-distribution max | shifted min |"
    )
    print("|---|---|---|---|---|---|")
    for name, size, threshold, p95, top, low in rows:
        print(f"| {name} | {size} | {threshold:g} | {p95:.3f} | {top:.3f} | {low:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
