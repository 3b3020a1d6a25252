"""`make demo-monitor`: the monitoring stage of `make demo`, on the running `stable` server.

Records the reference (held-out split), sends a window like the training data (the validation
split) and then a window that has shifted (monitor/examples/shifted.jsonl: Spanish and German
messages), and judges both. The stage passes when the monitor says "no drift" for the first
and "drift" for the second; anything else fails it with both reports printed.

    python -m monitor.demo --training-data pipelines/data/intents.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor import cli

SHIFTED = Path(__file__).resolve().parent / "examples" / "shifted.jsonl"


def edge() -> str:
    time.sleep(0.01)  # windows are half-open on receive time
    return datetime.now(UTC).isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-data", type=Path, required=True)
    parser.add_argument("--name", default="stable")
    args = parser.parse_args(argv)
    out = cli.OUT
    if cli.main(["reference", "--name", args.name, "--training-data", str(args.training_data)]):
        return 2
    start = edge()
    traffic = ["traffic", "--name", args.name, "--file"]
    if cli.main([*traffic, str(args.training_data), "--split", "validation"]):
        return 2
    middle = edge()
    if cli.main([*traffic, str(SHIFTED)]):
        return 2
    windows = {"in-distribution": (start, middle, "no_drift"), "shifted": (middle, None, "drift")}
    verdicts = {}
    for name, (since, until, expected) in windows.items():
        print(f"==> monitor: the {name} window")
        run = ["run", "--since", since, "--out", str(out / name)]
        cli.main(run + (["--until", until] if until else []))
        verdicts[name] = json.loads((out / name / "summary.json").read_text())["outcome"]
        if verdicts[name] != expected:
            print(f"ERROR: the {name} window is {verdicts[name]}, expected {expected}")
            return 1
    print(f"==> monitoring: {verdicts} (reports in {out}/<window>/report.md, drift.html)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
