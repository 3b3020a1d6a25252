"""Paired intervals for head - base (stdlib only): a score interval for pass/fail metrics, a
seeded bootstrap for the rest, the three-way non-inferiority outcome and the detectable effect."""

from __future__ import annotations

import math
import random
import statistics

# Planning assumption when a set shows no spread (no case changed): the share of answers that
# flip between two versions of a model. The README's "cases per margin" table uses it too.
PLANNING_DISCORDANCE = 0.10

NON_INFERIOR, INCONCLUSIVE, REGRESSED = "non_inferior", "inconclusive", "regressed"


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)


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


def _restricted_p21(improved: float, regressed: float, n: float, d0: float) -> float:
    """Maximum-likelihood P(regressed) when the difference is fixed at d0 (Tango 1998)."""
    a = 2 * n
    b = (2 * n - improved + regressed) * d0 - improved - regressed
    c = -regressed * d0 * (1 - d0)
    return (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)


def paired_binary_interval(
    improved: int, regressed: int, n: int, confidence: float
) -> tuple[float, float, float]:
    """Difference of paired proportions (head - base) and Tango's score interval for it.

    Only the discordant pairs carry information: `improved` cases fail on base and pass on
    head, `regressed` the reverse. The interval inverts Tango's score test, whose variance is
    taken at the restricted maximum-likelihood estimate under each candidate difference:
    T. Tango, "Equivalence test and confidence interval for the difference in proportions for
    the paired-sample design", Statistics in Medicine 17 (1998) 891-908; the formulas as in
    M. W. Fagerland, S. Lydersen, P. Laake, "Recommended tests and confidence intervals for
    paired binomial proportions", Statistics in Medicine 33 (2014) 2850-2875, which recommends
    it (coverage close to nominal down to small samples). The exact conditional alternative
    (Clopper-Pearson on improved vs regressed, the exact McNemar test) holds the share of
    changed cases fixed, so a head that loses 9 of 200 and gains none would get -0.045 as its
    bound and pass a 0.05 margin; this interval gives -0.083.

    No case changed: the difference on this set is exactly 0 and the interval is [0, 0], as
    the bootstrap gives, so a head that answers every case as base does is never failed.
    """
    if n <= 0 or improved < 0 or regressed < 0 or improved + regressed > n:
        raise ValueError(f"bad paired counts: {improved} improved, {regressed} regressed of {n}")
    delta = (improved - regressed) / n
    if improved + regressed == 0:
        return 0.0, 0.0, 0.0
    z = _z(confidence)

    def score(d0: float) -> float:
        p21 = _restricted_p21(improved, regressed, n, d0)
        variance = n * (2 * p21 + d0 * (1 - d0))
        gap = improved - regressed - n * d0
        if variance <= 0:
            return math.copysign(math.inf, gap) if gap else 0.0
        return gap / math.sqrt(variance)

    def solve(lo: float, hi: float, target: float) -> float:
        # score() falls as d0 rises; 60 halvings of [-1, 1] reach double precision.
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if score(mid) > target else (lo, mid)
        return (lo + hi) / 2

    return delta, solve(-1.0, delta, z), solve(delta, 1.0, -z)


def outcome(n: int, low: float, high: float, margin: float, min_cases: int) -> str:
    """`regressed`: the whole interval is below -margin (head worse by more than the margin);
    `non_inferior`: its lower bound is at or above -margin, on at least `min_cases` cases;
    otherwise `inconclusive`: too few cases, or an interval that straddles the margin."""
    if n < min_cases:
        return INCONCLUSIVE
    if high < -margin - 1e-12:
        return REGRESSED
    return NON_INFERIOR if low >= -margin - 1e-12 else INCONCLUSIVE


def detectable(
    spread: float, n: int, confidence: float, power: float, margin: float, binary: bool
) -> tuple[float, int]:
    """Minimum detectable effect on n cases, and the cases the margin needs, for a head that is
    as good as base: the smallest margin at which it is shown non-inferior with probability
    `power` (equivalently the smallest true regression the set flags that often).

    `spread` is the share of cases that changed (pass/fail metrics) or the variance of one
    case's head - base (others). Pass/fail metrics use the score test's own variance at the
    margin (the sample-size formula for Tango's test, as in Fagerland et al. 2014), so the
    figures match the gate; other metrics the normal approximation.
    """
    za, zb = _z(confidence), statistics.NormalDist().inv_cdf(power)
    if spread <= 0:
        return 0.0, 1

    def cases(m: float) -> float:
        if not binary:
            return (za + zb) ** 2 * spread / (m * m)
        null = 2 * _restricted_p21(spread / 2, spread / 2, 1, -m) - m * (1 + m)
        return ((za * math.sqrt(null) + zb * math.sqrt(spread)) / m) ** 2

    lo, hi = 1e-6, 1.0  # cases() falls as the margin widens
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cases(mid) > n else (lo, mid)
    return hi, math.ceil(cases(margin)) if margin > 0 else 0
