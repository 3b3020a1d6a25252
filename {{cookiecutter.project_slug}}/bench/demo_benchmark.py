"""Each demo stage's wall time, from build/demo/stages.json (written by scripts/demo.sh).

    python bench/demo_benchmark.py          # print the last `make demo` run's stage times
    python bench/demo_benchmark.py --run    # run `make demo` first, then print

Target: the whole loop under 15 minutes on 2 cores once the environments exist (environment
creation is a one-off and is not a stage).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "build" / "demo" / "stages.json"
TARGET_S = 15 * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run `make demo` first")
    parser.add_argument("--stages", type=Path, default=STAGES)
    args = parser.parse_args(argv)
    if args.run:
        subprocess.run(["make", "demo"], cwd=ROOT)  # its outcome is in stages.json
    try:
        stages = json.loads(args.stages.read_text())
    except FileNotFoundError:
        print(f"ERROR: {args.stages} not found: run `make demo` (or pass --run)", file=sys.stderr)
        return 2
    total = sum(s["seconds"] for s in stages)
    width = max(len(s["stage"]) for s in stages) if stages else 5
    print(f"{'stage':<{width}}  {'outcome':<7}  {'seconds':>8}  share")
    for s in stages:
        share = s["seconds"] / total if total else 0
        print(f"{s['stage']:<{width}}  {s['outcome']:<7}  {s['seconds']:>8.1f}  {share:5.1%}")
    failed = [s["stage"] for s in stages if s["outcome"] != "passed"]
    print(
        f"{'total':<{width}}  {'FAILED' if failed else 'passed':<7}  {total:>8.1f}  "
        f"(target < {TARGET_S} s: {'met' if total < TARGET_S and not failed else 'NOT met'})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
