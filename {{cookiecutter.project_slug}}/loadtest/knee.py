"""The knee search: the highest open-loop arrival rate at which every SLO holds.

Pure code: `search` calls `measure(rate)` (one Locust run at that rate, warm-up excluded, in
`make load-knee`; a synthetic curve in the tests) and decides the next rate from what it saw.

- A rate's verdict is the majority of its runs. A failed run is measured again at once, until
  the rate has `repeats` runs and no tie: one host stall (this machine is shared) does not end
  the search, and a real failure is seen twice.
- Bracket: start at `start_rate`, double while the rate passes (up to `max_rate`), halve while
  it fails (down to `min_rate`).
- Bisect between the highest passing rate below every failing one (`low`) and the lowest
  failing rate (`high`), until (high - low) / low <= `resolution`.
- Repeat at the boundary: `low` is the knee only once it has `repeats` runs, most of them
  passed; a repeat that fails is measured again like any failure.

Stop rule, the first that holds:
  converged   the bracket is within `resolution` and `low` has its `repeats` runs -> the knee
  max_rate    `max_rate` passed, with its `repeats` runs -> the knee is at least max_rate
  no_rate     every rate tried down to `min_rate` failed -> no knee
  budget      `max_runs` runs spent, or the next run would end past `max_minutes` (each run's
              length estimated by `seconds(rate)`) -> `low` so far (if any), not confirmed
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest.profile import KneeSearch


@dataclass
class Knee:
    rate: float | None
    stopped_by: str
    runs: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.stopped_by in ("converged", "max_rate")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "stopped_by": self.stopped_by,
            "confirmed": self.confirmed,
            "runs": [{"rate": rate, "passed": passed} for rate, passed in self.runs],
        }


def _round(rate: float) -> float:
    return float(f"{rate:.3g}")


def tally(runs: list[tuple[float, bool]]) -> dict[float, tuple[int, int]]:
    """(passed, failed) run counts per rate."""
    counts: dict[float, tuple[int, int]] = {}
    for rate, passed in runs:
        good, bad = counts.get(rate, (0, 0))
        counts[rate] = (good + passed, bad + (not passed))
    return counts


def bracket(runs: list[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(low, high): the highest rate that passed most of its runs below the lowest that failed
    most (a tie counts as failed)."""
    counts = tally(runs)
    failed = [rate for rate, (good, bad) in counts.items() if bad >= good]
    high = min(failed) if failed else None
    below = [rate for rate in counts if rate not in failed and (high is None or rate < high)]
    return (max(below) if below else None), high


def next_rate(runs: list[tuple[float, bool]], config: KneeSearch) -> tuple[float | None, str]:
    """The rate to measure next, or (None, why the search stops)."""
    if not runs:
        return config.start_rate, ""
    counts = tally(runs)
    # A failure is measured again at once, until the rate has its repeats and no tie.
    unsettled = [
        rate
        for rate, (good, bad) in counts.items()
        if bad and (good + bad < config.repeats or good == bad)
    ]
    if unsettled:
        return min(unsettled), ""
    low, high = bracket(runs)
    if low is None:
        if high is not None and high <= config.min_rate:
            return None, "no_rate"
        return max(_round(high / 2), config.min_rate) if high else config.start_rate, ""
    confirmed = sum(counts[low]) >= config.repeats
    if high is None:
        if low < config.max_rate:
            return min(_round(low * 2), config.max_rate), ""
        return (None, "max_rate") if confirmed else (low, "")
    middle = _round((low + high) / 2)
    if (high - low) / low > config.resolution and low < middle < high:
        return middle, ""
    return (None, "converged") if confirmed else (low, "")


def search(
    measure: Callable[[float], bool],
    config: KneeSearch,
    seconds: Callable[[float], float] = lambda rate: 0.0,
) -> Knee:
    runs: list[tuple[float, bool]] = []
    spent = 0.0
    while True:
        rate, stop = next_rate(runs, config)
        if rate is None:
            low, _ = bracket(runs)
            return Knee(low if stop != "no_rate" else None, stop, runs)
        over_time = spent + seconds(rate) > 60 * config.max_minutes
        if len(runs) >= config.max_runs or over_time:
            return Knee(bracket(runs)[0], "budget", runs)
        spent += seconds(rate)
        runs.append((rate, measure(rate)))
