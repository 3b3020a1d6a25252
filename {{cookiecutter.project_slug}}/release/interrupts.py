"""Cancellation and timeouts as exceptions in the controller's main thread.

CI runners cancel a job with SIGINT, then SIGTERM, then SIGKILL (GitHub: 7.5 s, then 2.5 s).
The first SIGINT or SIGTERM raises `Cancelled` wherever the controller is, so it unwinds
through the same rollback path as a failed check; further signals are noted, not raised,
so they cannot interrupt that rollback. A phase that runs past its `deadline` raises
`StepTimeout` (SIGALRM), whether it waits on a command or hangs in Python.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Aborted(Exception):
    """The canary was stopped from outside its checks: cancelled or timed out."""


class Cancelled(Aborted):
    pass


class StepTimeout(Aborted):
    pass


CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def cancellation() -> Iterator[list[str]]:
    """Raise `Cancelled` on the first SIGINT/SIGTERM; yields the names of the signals seen."""
    seen: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        seen.append(signal.Signals(signum).name)
        if len(seen) == 1:
            raise Cancelled(f"cancelled by {seen[0]}")
        print(f"==> {seen[-1]} received: already stopping, rolling back first", flush=True)

    previous = {sig: signal.signal(sig, handler) for sig in CANCEL_SIGNALS}
    try:
        yield seen
    finally:
        # Once cancelled, a late SIGTERM must not kill the process between the rollback and its
        # exit (the exit code and the last evidence are still to come): keep ignoring them.
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_IGN if seen else old)


@contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise `StepTimeout` if the block runs longer than `seconds` (None or 0: no limit)."""
    if not seconds:
        yield
        return

    def handler(_signum: int, _frame: object) -> None:
        raise StepTimeout(f"{what} timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
