"""Paired bootstrap confidence interval of a mean difference (stdlib only, seeded)."""

from __future__ import annotations

import random
import statistics


def paired_bootstrap(
    base: list[float], head: list[float], confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Mean of head - base over paired cases, and its percentile bootstrap interval.

    Resampling the case indices (not each side separately) keeps the pairing, so the interval
    reflects how much the difference depends on which cases happen to be in the set.
    """
    if len(base) != len(head):
        raise ValueError(f"paired samples differ in length: {len(base)} vs {len(head)}")
    if not base:
        raise ValueError("no paired cases to compare")
    diffs = [h - b for b, h in zip(base, head, strict=True)]
    mean = statistics.fmean(diffs)
    if all(d == diffs[0] for d in diffs):
        return mean, mean, mean
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(statistics.fmean(rng.choices(diffs, k=n)) for _ in range(resamples))
    alpha = (1 - confidence) / 2
    low = means[int(alpha * (resamples - 1))]
    high = means[round((1 - alpha) * (resamples - 1))]
    return mean, low, high
