"""The knee search's stop rule on synthetic curves: no server, no Locust."""

from __future__ import annotations

import pytest

from loadtest.knee import bracket, search
from loadtest.profile import KneeSearch

RULE = KneeSearch(
    start_rate=2.0,
    min_rate=0.25,
    max_rate=64.0,
    resolution=0.1,
    repeats=2,
    warmup_s=5,
    measure_s=15,
    max_runs=24,
    max_minutes=8,
)


def curve(limit: float):
    """A server that meets the SLOs up to `limit` req/s; records what was measured."""
    measured: list[float] = []

    def measure(rate: float) -> bool:
        measured.append(rate)
        return rate <= limit

    return measure, measured


@pytest.mark.parametrize("limit", [0.3, 1.0, 3.3, 11.0, 37.0])
def test_converges_below_the_true_knee_within_the_resolution(limit: float) -> None:
    measure, measured = curve(limit)
    knee = search(measure, RULE)
    assert knee.stopped_by == "converged" and knee.confirmed
    assert limit * (1 - RULE.resolution) <= knee.rate <= limit
    # The boundary was measured again: the knee passed `repeats` runs.
    assert measured.count(knee.rate) >= RULE.repeats
    low, high = bracket(knee.runs)
    assert low == knee.rate and (high - low) / low <= RULE.resolution
    assert len(measured) <= RULE.max_runs


def test_the_trace_doubles_then_bisects_then_repeats() -> None:
    measure, measured = curve(11.0)
    search(measure, RULE)
    # Every failure is measured twice; the knee too.
    assert measured == [2.0, 4.0, 8.0, 16.0, 16.0, 12.0, 12.0, 10.0, 11.0, 11.0]


def test_a_repeat_that_fails_lowers_the_knee() -> None:
    """Noise at the boundary: 11 passes once, then fails from then on; the knee is below it."""
    seen: dict[float, int] = {}

    def measure(rate: float) -> bool:
        seen[rate] = seen.get(rate, 0) + 1
        return rate <= 10.5 or (rate <= 11.0 and seen[rate] == 1)

    knee = search(measure, RULE)
    assert knee.stopped_by == "converged" and knee.rate <= 10.5
    assert knee.runs.count((11.0, False)) == 2  # a tie is measured once more: 1 pass, 2 fails


def test_one_stall_does_not_end_the_search() -> None:
    """The first run at the start rate meets a host stall; the rate passes its next two."""
    measure, measured = curve(11.0)
    stalled = []

    def stalling(rate: float) -> bool:
        if not stalled:
            stalled.append(rate)
            measured.append(rate)
            return False
        return measure(rate)

    knee = search(stalling, RULE)
    assert measured[:3] == [2.0, 2.0, 2.0]  # failed, passed (a tie), passed
    assert knee.rate is not None and knee.rate >= 8.0


def test_every_rate_passing_stops_at_max_rate() -> None:
    measure, measured = curve(1e9)
    knee = search(measure, RULE)
    assert knee.stopped_by == "max_rate" and knee.rate == RULE.max_rate and knee.confirmed
    assert measured.count(RULE.max_rate) == RULE.repeats


def test_no_rate_passing_stops_at_min_rate() -> None:
    measure, measured = curve(0.0)
    knee = search(measure, RULE)
    assert knee.stopped_by == "no_rate" and knee.rate is None and not knee.confirmed
    assert min(measured) == RULE.min_rate and measured[0] == RULE.start_rate
    assert measured.count(RULE.min_rate) == RULE.repeats  # the last failure seen twice too


def test_the_run_budget_stops_the_search_unconfirmed() -> None:
    measure, measured = curve(11.0)
    knee = search(measure, RULE.model_copy(update={"max_runs": 4}))
    assert knee.stopped_by == "budget" and not knee.confirmed
    assert len(measured) == 4 and knee.rate == 8.0  # 2, 4, 8 passed; 16 failed


def test_the_time_budget_stops_before_a_run_that_would_overrun_it() -> None:
    measure, measured = curve(11.0)
    # 30 s + 60 s / rate a run: 2 -> 60 s, 4 -> 45 s, 8 -> 37.5 s, 16 -> 33.75 s: 176 s in all.
    knee = search(measure, RULE.model_copy(update={"max_minutes": 3}), lambda r: 30 + 60 / r)
    assert knee.stopped_by == "budget" and measured == [2.0, 4.0, 8.0, 16.0]


def test_a_rate_above_a_failure_never_counts() -> None:
    # 4 passed, then 2 failed most of its runs: the knee must be below 2, whatever 4 did.
    assert bracket([(4.0, True), (2.0, False), (2.0, False), (1.0, True)]) == (1.0, 2.0)
    assert bracket([(4.0, True), (4.0, False)]) == (None, 4.0)  # a tie counts as failed
    assert bracket([(2.0, False), (2.0, True), (2.0, True)]) == (2.0, None)  # the majority


def test_the_rule_refuses_a_start_outside_its_range() -> None:
    with pytest.raises(ValueError, match="start_rate"):
        KneeSearch(**{**RULE.model_dump(), "start_rate": 100.0})


def test_the_curve_plot_is_an_svg_with_a_point_per_run() -> None:
    import xml.dom.minidom

    from loadtest.plot import knee_svg

    rows = [
        {"rate": r, "passed": r <= 8, "ttft_p95_ms": 10.0 * r, "itl_p95_ms": None if r == 2 else r,
         "goodput_requests_per_s": min(r, 8.0)}
        for r in (2.0, 4.0, 8.0, 16.0)
    ]  # fmt: skip
    svg = knee_svg(rows, {"ttft_p95_ms": 100.0, "itl_p95_ms": 10.0}, knee=8.0)
    document = xml.dom.minidom.parseString(svg)
    circles = document.getElementsByTagName("circle")
    assert len(circles) == 4 + 3 + 4  # no point where a figure is missing
    assert {c.getAttribute("fill") for c in circles} == {"#2a2", "#c00"}
    assert "knee 8 req/s" in svg and "SLO" in svg
