"""Open-loop arrivals: a seeded Poisson schedule, handed to a pool of senders, with late and
dropped requests accounted for.

Why this is hand-written rather than a Locust wait_time or LoadTestShape: Locust's users are
closed loop. `constant_pacing` / `constant_throughput` pace each user's next task from the end of
its previous one, so when the server slows down the arrivals slow down with it (coordinated
omission) and the gaps are constant, not exponential; a `LoadTestShape` sets the number of users
and their spawn rate, not when requests arrive. Production traffic does not wait for the server.
So each Locust process draws one Poisson schedule at its share of the rate (seeded), and its
users form a pool of senders (Locust still spawns, runs, stops and, distributed, merges them): a
free user takes the next arrival, sleeps until its time and sends it. When every user is busy
the arrival waits in this client-side queue, and is sent late when a user frees up (queueing
delay = sent - scheduled); one that waits longer than `drop_after_s` is dropped, as k6's
constant-arrival-rate executor drops iterations with no free VU. This is how vLLM's benchmark
client schedules too (vllm/benchmarks/serve.py `get_request`: gamma gaps, exponential
at burstiness 1); with `--max-concurrency` it too queues arrivals, behind a semaphore.

The schedule: with the run's length known (`window`), a Poisson process conditioned on its count,
round(rate x window) arrivals scattered uniformly over the window (given its count, that is
exactly how a Poisson process places its arrivals; the gaps are exponential). Otherwise plain
exponential gaps. Conditioning removes the count's own noise: unconditioned, 25 s at 2 req/s
offer 50 +- 7 requests (the profile's seed offered 36), so the achieved rate would judge the
dice, not the client. vLLM's client does the same by rescaling its gaps to sum to count / rate.

Connections: each sender keeps its own, and at low rates it would sit idle past the server's
keep-alive between two arrivals, so the next request would open a new one inside its TTFT. A
sender therefore wakes `PRECONNECT_LEAD_S` before its arrival is due and, when `needs_fresh`
says so, opens a fresh connection while it is idle anyway (loadtest/connections.py says why and
what was measured).

Pure code: the clock is passed in, so tests drive it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRECONNECT_LEAD_S = 0.25  # a sender checks its connection this long before its arrival is due


def needs_fresh(connected: bool, released_at: float | None, due: float, max_idle_s: float) -> bool:
    """Open a new connection before `due`? Yes when there is none (never opened, or closed by
    the server) or when it will have been idle longer than `max_idle_s` by then."""
    return not connected or released_at is None or due - released_at > max_idle_s


def preconnect_at(due: float, now: float, lead_s: float = PRECONNECT_LEAD_S) -> float | None:
    """When a sender that claimed an arrival `due` at `now` checks its connection: `lead_s`
    before it is due (at once when that is past), never once it is due (the request connects
    itself then, as vLLM's client does when its pool holds no idle connection)."""
    if due <= now:
        return None
    return max(now, due - lead_s)


class PoissonSchedule:
    """Arrival times of a Poisson process at `rate`, seeded; conditioned on its count over
    [start, start + window) when `window` is given, exponential gaps after that (or throughout)."""

    def __init__(
        self, rate: float, seed: str | int, start: float, window: float | None = None
    ) -> None:
        if not rate > 0:
            raise ValueError(f"arrival rate must be > 0 requests/s (got {rate})")
        self.rate = rate
        self._rng = random.Random(seed)
        count = round(rate * window) if window else 0
        self._planned = sorted(start + self._rng.uniform(0, window or 0) for _ in range(count))
        self._planned.reverse()  # popped from the end
        self._next = self._planned.pop() if self._planned else start + self._gap()
        self._end = start + (window or 0)
        self.issued = 0

    def _gap(self) -> float:
        return self._rng.expovariate(self.rate)

    def peek(self) -> float:
        return self._next

    def pop(self) -> tuple[int, float]:
        """The next arrival's index and time."""
        index, at = self.issued, self._next
        self.issued += 1
        self._next = self._planned.pop() if self._planned else max(at, self._end) + self._gap()
        return index, at


@dataclass(frozen=True)
class Arrival:
    index: int
    scheduled: float


class Dispatcher:
    """Hands the schedule's arrivals, in order, to whichever sender is free.

    `claim(now)` gives a free sender the next arrival (it sleeps until `scheduled`, or sends at
    once when that is past), and the arrivals it skipped because they waited more than
    `drop_after_s` for a sender. After `close(now)` nothing more is handed out; of the arrivals
    already due but never taken, those that had waited more than `drop_after_s` come back as
    dropped (the pool was full until the end); the others were cut by the end of the run, like
    the arrivals after it, not dropped: a wake-up a few ms late at the stop is no overload.
    """

    def __init__(self, schedule: PoissonSchedule, drop_after_s: float) -> None:
        self.schedule = schedule
        self.drop_after_s = drop_after_s
        self.closed = False

    def claim(self, now: float) -> tuple[Arrival | None, list[float]]:
        dropped: list[float] = []
        while not self.closed:
            index, at = self.schedule.pop()
            if now - at > self.drop_after_s:
                dropped.append(at)
                continue
            return Arrival(index, at), dropped
        return None, dropped

    def close(self, now: float) -> list[float]:
        self.closed = True
        dropped = []
        while self.schedule.peek() <= now:
            at = self.schedule.pop()[1]
            if now - at > self.drop_after_s:
                dropped.append(at)
        return dropped
