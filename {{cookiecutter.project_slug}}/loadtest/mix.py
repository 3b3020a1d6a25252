"""The request mix: which prompt and which answer length each request asks for.

Pure code: the caller passes a seeded `random.Random`, so a run's sequence of requests is
reproducible. A class is drawn by weight (profile.yaml `mix`), then one of its prompts, then its
answer length (`OutputTokens`): natural answers are capped at `max` and end on their own; forced
ones draw a length and are sent with `max_tokens` = that length and `ignore_eos`, as vLLM's own
benchmark client forces its output lengths (vllm/benchmarks/lib/endpoint_request_func.py sends
`max_completion_tokens` = the dataset's output_len, plus `ignore_eos` under `--ignore-eos`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from common.evidence import sha256_text
from loadtest.profile import OutputTokens, Profile
from loadtest.prompts import load_prompts


@dataclass(frozen=True)
class Request:
    request_class: str
    messages: list[dict]
    max_tokens: int
    ignore_eos: bool


def output_length(spec: OutputTokens, rng: random.Random) -> int:
    """The max_tokens to send: the cap for natural answers, a drawn length for forced ones."""
    if spec.distribution in ("natural", "fixed"):
        return spec.max
    low = spec.min or 1
    if spec.distribution == "uniform":
        return rng.randint(low, spec.max)
    # lognormal: log(length) ~ N(log(median), sigma), rounded and clipped to [min, max].
    drawn = rng.lognormvariate(math.log(spec.median or 1), spec.sigma or 0)
    return min(spec.max, max(low, round(drawn)))


class Mix:
    """The profile's classes with their prompts loaded (each file once)."""

    def __init__(self, profile: Profile) -> None:
        self.classes = profile.mix
        self.weights = [c.weight for c in self.classes]
        loaded: dict[Path, list[dict]] = {}
        self.hashes: dict[Path, str] = {}
        for request_class in self.classes:
            if request_class.prompts not in loaded:
                prompt_set = load_prompts(request_class.prompts)
                loaded[request_class.prompts] = prompt_set.prompts
                self.hashes[request_class.prompts] = prompt_set.sha256
        self.prompts = [loaded[c.prompts] for c in self.classes]

    def draw(self, rng: random.Random) -> Request:
        (index,) = rng.choices(range(len(self.classes)), weights=self.weights)
        request_class = self.classes[index]
        return Request(
            request_class=request_class.name,
            messages=rng.choice(self.prompts[index])["messages"],
            max_tokens=output_length(request_class.output_tokens, rng),
            ignore_eos=request_class.output_tokens.forced,
        )

    def prompt_set_sha256(self) -> str:
        """The one prompt file's SHA-256, or a hash of the files' hashes in the mix's order."""
        hashes = list(self.hashes.values())
        return hashes[0] if len(hashes) == 1 else sha256_text("\n".join(hashes))

    def describe(self) -> list[dict]:
        """The mix as the summary records it."""
        return [
            {
                "name": c.name,
                "weight": c.weight,
                "prompts": c.prompts.name,
                "prompts_sha256": self.hashes[c.prompts],
                "output_tokens": c.output_tokens.model_dump(exclude_none=True),
            }
            for c in self.classes
        ]
