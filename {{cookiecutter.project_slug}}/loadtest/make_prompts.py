"""Re-create the load test's prompt files.

    python -m loadtest.make_prompts [--count 200] [--seed 8] [--out loadtest/prompts.jsonl]
    python -m loadtest.make_prompts --goldens evals/datasets/regular.jsonl [--out FILE]

Default: a seeded sample of the pipeline's own dataset generator (same style and system prompt as
the model is trained and evaluated on). `--goldens`: every question of an eval goldens file, with
the system prompt the model is served with, so the load asks what the evals ask: written to
loadtest/goldens.jsonl, the profile's default (loadtest/profile.yaml). Unsafe requests are left
out: they are the evals' business, not the load test's.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from loadtest.prompts import DEFAULT_PROMPTS
from pipelines.task import SYSTEM_PROMPT, UNSAFE_LABEL


def _messages(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def build(count: int, seed: int) -> list[dict]:
    from pipelines.generate_dataset import generate  # the pipelines' generator, only for this

    messages = [r for r in generate() if r["intent"] != UNSAFE_LABEL]
    chosen = random.Random(seed).sample(messages, count)
    return [
        {"id": f"load-{number:04d}", "messages": _messages(record["text"])}
        for number, record in enumerate(chosen, start=1)
    ]


def from_goldens(path: Path) -> list[dict]:
    """One prompt per golden case (its `input`), in file order; unsafe cases left out."""
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        {"id": case["id"], "messages": _messages(case["input"])}
        for case in cases
        if case.get("category") != UNSAFE_LABEL
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--goldens", type=Path, help="an eval goldens JSONL (evals/datasets/)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.goldens:
        prompts, out = (
            from_goldens(args.goldens),
            args.out or DEFAULT_PROMPTS.with_name("goldens.jsonl"),
        )
    else:
        prompts, out = build(args.count, args.seed), args.out or DEFAULT_PROMPTS
    lines = [json.dumps(p, sort_keys=True) for p in prompts]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} prompts to {out}")


if __name__ == "__main__":
    main()
