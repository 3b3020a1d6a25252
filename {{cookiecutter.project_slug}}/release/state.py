r"""The canary state machine (pure): which weight to run next, and when to promote or roll back.

    RUNNING(step 0) --pass--> RUNNING(step 1) --pass--> ... --pass at 100--> PROMOTE
          \--fail--------------------\--fail--------------------------------> ROLLBACK

Like Flagger and Argo Rollouts: the first failed check rolls back, and there are no retries.
Each step is judged only on the result recorded for it, so a pass at 10 % never carries a
flapping 50 % through, and a result for another weight is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise

from release.gate import StepResult


class Phase(StrEnum):
    RUNNING = "running"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class CanaryState:
    steps: tuple[int, ...]
    index: int = 0
    phase: Phase = Phase.RUNNING
    history: tuple[StepResult, ...] = ()
    reason: str = ""

    @property
    def weight(self) -> int:
        """The canary weight to run now (0 once rolled back, 100 once promoted)."""
        if self.phase is Phase.ROLLBACK:
            return 0
        if self.phase is Phase.PROMOTE:
            return 100
        return self.steps[self.index]

    @property
    def done(self) -> bool:
        return self.phase is not Phase.RUNNING


def start(steps: list[int] | tuple[int, ...]) -> CanaryState:
    steps = tuple(steps)
    climbing = all(0 < a < b for a, b in pairwise(steps))
    if not steps or steps[-1] != 100 or not climbing:
        raise ValueError(
            f"canary steps {list(steps)} must be weights in 1..100, strictly "
            "increasing, and end at 100"
        )
    return CanaryState(steps=steps)


def advance(state: CanaryState, result: StepResult) -> CanaryState:
    """Record the result of the current step and move on."""
    if state.done:
        raise ValueError(f"canary already finished ({state.phase.value}); start a new one")
    if result.weight != state.weight:
        raise ValueError(
            f"result is for weight {result.weight} but the current step is {state.weight}: "
            "each step must pass on its own evidence"
        )
    history = (*state.history, result)
    if not result.passed:
        failure = result.first_failure
        detail = f"{failure.name}: {failure.detail}" if failure else "the step produced no checks"
        return replace(
            state,
            phase=Phase.ROLLBACK,
            history=history,
            reason=f"step {result.weight}% failed: {detail}",
        )
    if state.index + 1 == len(state.steps):
        return replace(
            state,
            phase=Phase.PROMOTE,
            history=history,
            reason=f"all {len(state.steps)} steps passed ({', '.join(map(str, state.steps))}%)",
        )
    return replace(state, index=state.index + 1, history=history)
