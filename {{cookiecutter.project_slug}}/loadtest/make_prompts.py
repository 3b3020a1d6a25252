"""Re-create loadtest/prompts.jsonl: a seeded sample of the default task's support messages.

    python -m loadtest.make_prompts [--count 200] [--seed 8] [--out loadtest/prompts.jsonl]

The messages come from the pipeline's own dataset generator (same style and system prompt as
the model is trained and evaluated on), so the load matches what the service really sees.
Unsafe requests are left out: they are the evals' business, not the load test's.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from loadtest.prompts import DEFAULT_PROMPTS
from pipelines.generate_dataset import generate
from pipelines.task import SYSTEM_PROMPT, UNSAFE_LABEL


def build(count: int, seed: int) -> list[dict]:
    messages = [r for r in generate() if r["intent"] != UNSAFE_LABEL]
    chosen = random.Random(seed).sample(messages, count)
    return [
        {
            "id": f"load-{number:04d}",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": record["text"]},
            ],
        }
        for number, record in enumerate(chosen, start=1)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_PROMPTS)
    args = parser.parse_args(argv)
    lines = [json.dumps(p, sort_keys=True) for p in build(args.count, args.seed)]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} prompts to {args.out}")


if __name__ == "__main__":
    main()
