"""Open-loop arrivals: Poisson timing (rate, exponential gaps, seeds) and late/dropped accounting.

The schedules are seeded, so each assertion sees the same numbers on every run; the tolerances
are also wide enough (5 standard errors, KS at alpha 1e-6) that another seed would pass too.
"""

from __future__ import annotations

import itertools
import math

import pytest

from loadtest.arrivals import (
    PRECONNECT_LEAD_S,
    Dispatcher,
    PoissonSchedule,
    needs_fresh,
    preconnect_at,
)
from loadtest.profile import OpenLoop

N = 20_000


def gaps(rate: float, seed: str) -> list[float]:
    schedule = PoissonSchedule(rate, seed, start=100.0)
    times = [100.0] + [schedule.pop()[1] for _ in range(N)]
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("rate", [0.5, 4.0, 50.0])
@pytest.mark.parametrize("seed", ["1234-arrivals-0", "1234-arrivals-1", "7"])
def test_the_rate_is_the_target(rate: float, seed: str) -> None:
    mean = sum(gaps(rate, seed)) / N
    # The mean of N exponential gaps has a standard error of (1 / rate) / sqrt(N): 0.7 %.
    assert mean == pytest.approx(1 / rate, rel=5 / math.sqrt(N))


@pytest.mark.parametrize("seed", ["1234-arrivals-0", "1234-arrivals-1", "7"])
def test_the_gaps_are_exponential(seed: str) -> None:
    rate = 4.0
    ordered = sorted(gaps(rate, seed))
    # Kolmogorov-Smirnov distance to the exponential CDF 1 - exp(-rate x).
    distance = max(
        max(abs((i + 1) / N - cdf), abs(i / N - cdf))
        for i, cdf in enumerate(1 - math.exp(-rate * x) for x in ordered)
    )
    assert distance < math.sqrt(-math.log(1e-6 / 2) / 2) / math.sqrt(N)  # alpha = 1e-6
    # Memoryless: the coefficient of variation of exponential gaps is 1 (constant pacing: 0).
    mean = sum(ordered) / N
    sd = math.sqrt(sum((g - mean) ** 2 for g in ordered) / (N - 1))
    assert sd / mean == pytest.approx(1.0, abs=0.05)


def test_a_seed_gives_the_same_schedule_and_workers_get_their_own() -> None:
    assert gaps(2.0, "s-0")[:50] == gaps(2.0, "s-0")[:50]
    assert gaps(2.0, "s-0")[:50] != gaps(2.0, "s-1")[:50]


def test_arrivals_are_numbered_in_order() -> None:
    schedule = PoissonSchedule(10.0, "x", start=0.0)
    popped = [schedule.pop() for _ in range(5)]
    assert [index for index, _ in popped] == [0, 1, 2, 3, 4]
    assert all(a[1] < b[1] for a, b in itertools.pairwise(popped))


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        PoissonSchedule(rate, "x", start=0.0)


class FixedSchedule:
    """Arrivals at the given times (the dispatcher only needs peek and pop)."""

    def __init__(self, times: list[float]) -> None:
        self.times, self.issued = times, 0

    def peek(self) -> float:
        return self.times[self.issued] if self.issued < len(self.times) else math.inf

    def pop(self) -> tuple[int, float]:
        self.issued += 1
        return self.issued - 1, self.times[self.issued - 1]


def test_a_free_sender_gets_the_next_arrival_on_time_or_late() -> None:
    dispatcher = Dispatcher(FixedSchedule([1.0, 2.0, 3.0]), drop_after_s=2.0)
    arrival, dropped = dispatcher.claim(now=0.5)  # free before it is due: sleeps until 1.0
    assert (arrival.index, arrival.scheduled, dropped) == (0, 1.0, [])
    arrival, dropped = dispatcher.claim(now=3.5)  # free 1.5 s after it was due: sent late
    assert (arrival.index, arrival.scheduled, dropped) == (1, 2.0, [])


def test_arrivals_that_waited_too_long_are_dropped() -> None:
    dispatcher = Dispatcher(FixedSchedule([1.0, 2.0, 3.0, 9.0]), drop_after_s=2.0)
    arrival, dropped = dispatcher.claim(now=4.5)  # 1.0 and 2.0 waited > 2 s; 3.0 did not
    assert dropped == [1.0, 2.0] and arrival.scheduled == 3.0


def test_at_the_stop_arrivals_that_waited_too_long_are_dropped_and_nothing_is_handed_out():
    dispatcher = Dispatcher(FixedSchedule([1.0, 2.0, 4.9, 9.0]), drop_after_s=2.0)
    dispatcher.claim(now=0.0)  # takes 1.0
    # 2.0 waited 3 s for a sender: dropped; 4.9 was due 0.1 s before the stop: cut by the end,
    # like 9.0 after it, not dropped.
    assert dispatcher.close(now=5.0) == [2.0]
    assert dispatcher.claim(now=5.0) == (None, [])


@pytest.mark.parametrize(("rate", "window"), [(2.0, 25.0), (10.0, 8.0), (0.3, 100.0)])
def test_with_the_run_length_known_the_count_is_the_target(rate: float, window: float) -> None:
    schedule = PoissonSchedule(rate, "1234-arrivals-0", start=0.0, window=window)
    times = []
    while schedule.peek() < window:
        times.append(schedule.pop()[1])
    assert len(times) == round(rate * window)
    assert times == sorted(times) and times[0] >= 0.0
    # Past the window the process goes on as plain exponential gaps: no burst, no hole.
    after = [schedule.pop()[1] for _ in range(3)]
    assert all(t >= window for t in after) and after == sorted(after)


def test_conditioned_arrivals_still_have_exponential_gaps() -> None:
    rate, window = 4.0, N / 4.0
    schedule = PoissonSchedule(rate, "1234-arrivals-0", start=0.0, window=window)
    times = [0.0] + [schedule.pop()[1] for _ in range(N)]
    ordered = sorted(b - a for a, b in itertools.pairwise(times))
    distance = max(
        max(abs((i + 1) / N - cdf), abs(i / N - cdf))
        for i, cdf in enumerate(1 - math.exp(-rate * x) for x in ordered)
    )
    assert distance < math.sqrt(-math.log(1e-6 / 2) / 2) / math.sqrt(N)


def test_a_sender_checks_its_connection_shortly_before_the_arrival_never_after() -> None:
    assert preconnect_at(due=10.0, now=0.0) == pytest.approx(10.0 - PRECONNECT_LEAD_S)
    assert preconnect_at(due=10.0, now=9.9) == 9.9  # claimed within the lead: check at once
    # Already due (the pool was busy, or the sender woke late): no pre-connect; the request
    # opens its connection itself, inside its TTFT, as vLLM's client does with no idle one.
    assert preconnect_at(due=10.0, now=10.0) is None
    assert preconnect_at(due=10.0, now=12.0) is None


@pytest.mark.parametrize(
    ("connected", "released_at", "due", "fresh"),
    [
        (False, 9.0, 10.0, True),  # closed by the server (or never opened)
        (True, None, 10.0, True),  # never used: not ours to trust
        (True, 9.0, 10.0, False),  # idle 1 s at the arrival: warm, reused
        (True, 7.0, 10.0, True),  # idle 3 s > 2 s: the server may close it as we send
        (True, 8.0, 10.0, False),  # exactly the limit: still reused
    ],
)
def test_a_connection_idle_too_long_at_the_arrival_is_replaced(
    connected: bool, released_at: float | None, due: float, fresh: bool
) -> None:
    assert needs_fresh(connected, released_at, due, max_idle_s=2.0) is fresh


@pytest.mark.parametrize("idle", [0.0, 2.0, 4.5])
def test_reconnect_idle_is_off_or_above_the_lead(idle: float) -> None:
    assert OpenLoop(pool_users=4, late_after_ms=50, drop_after_s=2, reconnect_idle_s=idle)


def test_a_reconnect_idle_within_the_lead_is_refused() -> None:
    with pytest.raises(ValueError, match="reconnect_idle_s"):
        OpenLoop(pool_users=4, late_after_ms=50, drop_after_s=2, reconnect_idle_s=0.1)
