"""The canary gate: one step's evidence in, a list of checks out (pure; no I/O).

A step passes only when every check passes on the evidence gathered during that step. Missing
or partial evidence is a failed check, never a skipped one, so it can never promote. Evidence
must also name the model version and endpoint the controller says each side serves: a summary
from another model (or one that names none) fails its `identity.*` check.
Thresholds come from policies/gates.yaml (`load`, `eval`, `canary`) and are echoed in each check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from policies.gates import Gates


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    observed: Any = None
    threshold: Any = None


@dataclass(frozen=True)
class StepEvidence:
    """What was measured at one canary weight. Documents are the stages' own JSON files."""

    weight: int
    stable_load: dict[str, Any] | None = None
    canary_load: dict[str, Any] | None = None
    # `make eval-compare` output (base = stable, head = canary), preferred: it is paired.
    eval_compare: dict[str, Any] | None = None
    # Fallback when no comparison exists: the two `make eval` summaries.
    stable_eval: dict[str, Any] | None = None
    canary_eval: dict[str, Any] | None = None
    # Problems seen while collecting (a command that failed, a server that died).
    problems: tuple[str, ...] = ()
    # What the controller knows each side serves, to check the evidence against:
    # {"stable": {"model_version": "1", "endpoint": "http://.../v1"}, "canary": {...}}.
    served: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    weight: int
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.passed), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }


# --- reading the load-test summary -----------------------------------------------------------

_LATENCY_KEYS = {
    "ttft": ("ttft", "ttft_ms"),
    "itl": ("itl", "itl_ms", "inter_token_latency"),
    "e2e": ("e2e", "e2e_ms"),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def latency_p95_ms(summary: dict[str, Any], metric: str) -> float | None:
    """p95 of `ttft`, `itl` or `e2e` in ms from a load summary (`{ttft_ms: {p95: ..}}` or flat)."""
    for key in _LATENCY_KEYS[metric]:
        block = summary.get(key)
        if isinstance(block, dict):
            for p95 in ("p95", "p95_ms"):
                if _number(block.get(p95)) is not None:
                    return _number(block[p95])
    latency = summary.get("latency_ms")
    if isinstance(latency, dict) and isinstance(latency.get(metric), dict):
        return _number(latency[metric].get("p95"))
    return _number(summary.get(f"{metric}_p95_ms"))


def load_field(summary: dict[str, Any], *names: str) -> float | None:
    for name in names:
        if _number(summary.get(name)) is not None:
            return _number(summary[name])
    return None


def requests_of(summary: dict[str, Any]) -> float | None:
    return load_field(summary, "requests", "num_requests", "request_count")


def error_rate_of(summary: dict[str, Any]) -> float | None:
    return load_field(summary, "error_rate")


def truncation_rate_of(summary: dict[str, Any]) -> float | None:
    return load_field(summary, "truncation_rate")


# --- reading the eval evidence ---------------------------------------------------------------


def _eval_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Mean score per metric from an eval summary: `{metrics: {name: {mean: x}}}` or `{name: x}`."""
    metrics = summary.get("metrics", {})
    out: dict[str, float] = {}
    if isinstance(metrics, dict):
        for name, value in metrics.items():
            score = (
                _number(value.get("mean", value.get("score")))
                if isinstance(value, dict)
                else (_number(value))
            )
            if score is not None:
                out[name] = score
    return out


def _eval_cases(summary: dict[str, Any]) -> float | None:
    """How many cases an eval summary scored (`cases` is the list of them in `make eval`)."""
    cases = summary.get("cases")
    if isinstance(cases, list):
        return float(len(cases))
    run = summary.get("run")
    if isinstance(run, dict) and _number(run.get("cases")) is not None:
        return _number(run["cases"])
    return load_field(summary, "cases", "n_cases", "num_cases")


def _comparison(compare: dict[str, Any]) -> dict[str, Any]:
    """`make eval-compare` nests the numbers under `comparison` (next to its own `gate`)."""
    inner = compare.get("comparison")
    return inner if isinstance(inner, dict) else compare


def _compare_rows(compare: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-metric rows: `{metrics: {name: {...}}}` or `{metrics: [{metric: name, ...}]}`."""
    metrics = _comparison(compare).get("metrics", {})
    if isinstance(metrics, list):
        return {
            row.get("metric", row.get("name", "?")): row for row in metrics if isinstance(row, dict)
        }
    return (
        {k: v for k, v in metrics.items() if isinstance(v, dict)}
        if isinstance(metrics, dict)
        else {}
    )


def _row_value(row: dict[str, Any], *names: str) -> float | None:
    for name in names:
        if _number(row.get(name)) is not None:
            return _number(row[name])
    return None


# --- identity: is this evidence about the models being judged? -------------------------------

SIDES = ("stable", "canary")


def _url(value: Any) -> str:
    return str(value).rstrip("/") if value else ""


def _eval_models(ev: StepEvidence, side: str) -> list[tuple[str, dict[str, Any]]]:
    """(document, the model block it records) for each eval document about `side`.

    `make eval` records `manifest.model` ({model_version, endpoint, ...}); `make eval-compare`
    copies each input's block to `comparison.base.model` / `comparison.head.model`.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if ev.eval_compare is not None:
        role = "base" if side == "stable" else "head"
        block = _comparison(ev.eval_compare).get(role)
        model = block.get("model") if isinstance(block, dict) else None
        found.append((f"compare.json {role}", model if isinstance(model, dict) else {}))
    summary = ev.stable_eval if side == "stable" else ev.canary_eval
    if summary is not None:
        manifest = summary.get("manifest")
        model = manifest.get("model") if isinstance(manifest, dict) else None
        found.append((f"{side} eval summary", model if isinstance(model, dict) else {}))
    return found


def _identity_checks(ev: StepEvidence) -> list[Check]:
    """Each side's eval and load evidence must come from the version and endpoint it serves.

    Evals record a model version; the load test records only its endpoint, which the controller
    knows serves that version. A document that names none, or another, fails: a compare.json
    whose head is another model must not judge this canary. A missing document gets no identity
    check: `load.evidence` / `eval.evidence` already fail the step, with the clearer reason.
    """
    checks = []
    for side in SIDES:
        want = ev.served.get(side) or {}
        version, endpoint = str(want.get("model_version") or ""), _url(want.get("endpoint"))
        if not version or not endpoint:
            for kind in ("eval", "load"):
                checks.append(
                    Check(
                        f"identity.{kind}.{side}",
                        False,
                        f"the controller did not record which version/endpoint {side} serves",
                    )
                )
            continue
        problems, seen = [], []
        docs = _eval_models(ev, side)
        for label, model in docs:
            got = str(model.get("model_version") or "")
            seen.append(got or None)
            if got in ("", "unknown"):
                problems.append(f"{label} names no model version")
            elif got != version:
                problems.append(f"{label} is from version {got}")
            if _url(model.get("endpoint")) != endpoint:
                problems.append(f"{label} measured {model.get('endpoint') or 'no endpoint'}")
        if docs:
            checks.append(
                Check(
                    f"identity.eval.{side}",
                    not problems,
                    f"{side}: version {version} at {endpoint}"
                    + (
                        f"; but {'; '.join(problems)}"
                        if problems
                        else f" ({len(docs)} document(s))"
                    ),
                    seen,
                    version,
                )
            )
        load = ev.stable_load if side == "stable" else ev.canary_load
        if load is not None:
            got_url = _url(load.get("endpoint"))
            checks.append(
                Check(
                    f"identity.load.{side}",
                    got_url == endpoint,
                    f"{side} load summary measured {got_url or 'no endpoint'} "
                    f"({side}: version {version} at {endpoint})",
                    got_url or None,
                    endpoint,
                )
            )
    return checks


# --- the checks ------------------------------------------------------------------------------


def _skipped(*docs: dict[str, Any] | None) -> dict[str, str]:
    """Why the suite skipped a metric (`skipped_metrics`, e.g. no judge configured)."""
    out: dict[str, str] = {}
    for doc in docs:
        skipped = (doc or {}).get("skipped_metrics")
        if isinstance(skipped, dict):
            out.update({k: str(v) for k, v in skipped.items() if k not in out})
    return out


def _eval_checks(ev: StepEvidence, gates: Gates) -> list[Check]:
    margin = gates.eval.max_regression
    if ev.eval_compare is not None:
        rows = _compare_rows(ev.eval_compare)
        if not rows:
            return [Check("eval.evidence", False, "eval comparison has no per-metric rows")]
        inner = _comparison(ev.eval_compare)
        cases = _row_value(inner, "paired_cases", "cases", "n_cases")
        checks = [_min_cases_check(cases, gates)]
        heads: dict[str, float] = {}
        bases: set[str] = set()
        for metric, row in sorted(rows.items()):
            head = _row_value(row, "head", "head_mean", "canary")
            if head is not None:
                heads[metric] = head
            if _row_value(row, "base", "base_mean", "stable") is not None:
                bases.add(metric)
            if row.get("gated") is False:
                continue  # informational metrics (e.g. per-case latency) do not gate
            low = _row_value(row, "ci_low", "delta_ci_low", "lower")
            delta = _row_value(row, "delta", "mean_delta")
            bound = low if low is not None else delta
            if bound is None:
                why = row.get("missing") or "comparison row has no delta"
                checks.append(Check(f"eval.{metric}", False, f"not compared: {why}"))
                continue
            checks.append(
                _noninferiority(metric, bound, low is not None, margin, row.get("outcome"))
            )
        skipped = _skipped(ev.eval_compare, ev.canary_eval)
        return checks + _min_scores(heads, bases, skipped, gates) + _stage_gate(ev.eval_compare)
    if ev.stable_eval is None or ev.canary_eval is None:
        which = "stable" if ev.stable_eval is None else "canary"
        return [
            Check("eval.evidence", False, f"missing eval results for {which}; refusing to promote")
        ]
    base, head = _eval_metrics(ev.stable_eval), _eval_metrics(ev.canary_eval)
    if not head:
        return [Check("eval.evidence", False, "canary eval summary has no metric scores")]
    checks = [_min_cases_check(_eval_cases(ev.canary_eval), gates)]
    gated = {
        name
        for name, value in (ev.canary_eval.get("metrics") or {}).items()
        if not (isinstance(value, dict) and value.get("gated") is False)
    }
    for metric in sorted(set(head) & gated):
        if metric not in base:
            checks.append(Check(f"eval.{metric}", False, "stable has no score for this metric"))
            continue
        checks.append(_noninferiority(metric, head[metric] - base[metric], False, margin))
    return (
        checks
        + _min_scores(head, set(base), _skipped(ev.canary_eval), gates)
        + _stage_gate(ev.canary_eval)
    )


def _stage_gate(document: dict[str, Any]) -> list[Check]:
    """The eval stage's own verdict (evals/gate.py), so every check it makes (leakage of the
    goldens, per-category safety minimums, a judge that scored too few cases) also holds the
    canary back, without the canary re-deriving each one. Evidence written before the eval
    gate recorded its verdict has none: judged on the rows above alone."""
    gate = document.get("gate")
    if not isinstance(gate, dict) or "passed" not in gate:
        return []
    failed = [str(f) for f in gate.get("failed") or []]
    detail = (
        "the eval gate passed" if gate["passed"] else f"the eval gate failed: {', '.join(failed)}"
    )
    return [Check("eval.gate", bool(gate["passed"]), detail)]


def _min_cases_check(cases: float | None, gates: Gates) -> Check:
    need = gates.eval.min_cases
    if cases is None:
        return Check(
            "eval.samples", False, "eval evidence does not say how many cases ran", None, need
        )
    return Check("eval.samples", cases >= need, f"{cases:.0f} cases (need >= {need})", cases, need)


def _noninferiority(
    metric: str, bound: float, paired_ci: bool, margin: float, outcome: Any = None
) -> Check:
    """The bound must clear the margin and, when the comparison recorded an outcome (newer
    compare.json), that outcome must be `non_inferior`: `inconclusive` (too few cases for the
    metric, or an interval across the margin) and `regressed` never promote. Rows without
    one are judged on the bound alone."""
    what = "CI lower bound of the paired delta" if paired_ci else "delta of the means"
    verdict = f"; outcome {outcome}" if outcome is not None else ""
    return Check(
        f"eval.{metric}.non_inferior",
        bound >= -margin and outcome in (None, "non_inferior"),
        f"{what} {bound:+.3f} (must be >= {-margin:+.3f}){verdict}",
        round(bound, 4),
        -margin,
    )


def _min_scores(
    head: dict[str, float], base: set[str], skipped: dict[str, str], gates: Gates
) -> list[Check]:
    """One check per metric `eval.min_scores` names, measured or not: a metric the suite no
    longer scores (renamed, dropped, its judge not configured) must not pass by absence."""
    checks = []
    for metric, floor in sorted(gates.eval.min_scores.items()):
        score = head.get(metric)
        if score is None:
            where = "on the canary" if metric in base else "on either side"
            why = f" ({skipped[metric]})" if metric in skipped else ""
            detail = f"not measured {where}{why}; the canary needs >= {floor}"
            checks.append(Check(f"eval.{metric}.min_score", False, detail, None, floor))
            continue
        checks.append(
            Check(
                f"eval.{metric}.min_score",
                score >= floor,
                f"canary {score:.3f} (min {floor})",
                round(score, 4),
                floor,
            )
        )
    return checks


def no_inter_token_gaps(summary: dict[str, Any]) -> bool:
    """Answered requests, none with a second token: ITL is undefined, and the load stage's own
    gate passes it (loadtest/metrics.py `gate`); the canary rules the same way."""
    itl = summary.get("itl_ms")
    ok = load_field(summary, "ok_requests")
    return isinstance(itl, dict) and itl.get("n") == 0 and ok is not None and ok > 0


def _latency_checks(metric: str, slo: float, ev: StepEvidence, gates: Gates) -> list[Check]:
    canary = latency_p95_ms(ev.canary_load or {}, metric)
    stable = latency_p95_ms(ev.stable_load or {}, metric)
    sides = (("canary", ev.canary_load or {}), ("stable", ev.stable_load or {}))
    gapless = [side for side, doc in sides if metric == "itl" and no_inter_token_gaps(doc)]
    if gapless:
        detail = f"no inter-token gaps on {' and '.join(gapless)} (1-token answers): not compared"
        return [Check(f"load.{metric}_p95", True, detail)]
    if canary is None or stable is None:
        side = "canary" if canary is None else "stable"
        return [
            Check(
                f"load.{metric}_p95", False, f"no {metric.upper()} p95 in the {side} load summary"
            )
        ]
    relative = canary / stable if stable > 0 else float("inf")
    ratio = gates.canary.max_latency_ratio
    floor = gates.canary.latency_noise_floor_ms.get(metric, 0.0)
    slower_by = canary - stable
    return [
        Check(
            f"load.{metric}_p95.slo",
            canary <= slo,
            f"canary {canary:.1f} ms (SLO <= {slo:.0f} ms)",
            round(canary, 2),
            slo,
        ),
        Check(
            f"load.{metric}_p95.vs_stable",
            relative <= ratio or slower_by <= floor,
            f"canary/stable {relative:.2f} ({canary:.1f} / {stable:.1f} ms, max {ratio}"
            + (f", or slower by at most {floor:g} ms)" if floor else ")"),
            round(relative, 3),
            ratio,
        ),
    ]


def _load_checks(ev: StepEvidence, gates: Gates) -> list[Check]:
    if ev.canary_load is None or ev.stable_load is None:
        which = " and ".join(
            side
            for side, doc in (("stable", ev.stable_load), ("canary", ev.canary_load))
            if doc is None
        )
        return [Check("load.evidence", False, f"missing load-test results for {which}")]
    need = gates.canary.min_requests_per_step
    checks = []
    for side, doc in (("canary", ev.canary_load), ("stable", ev.stable_load)):
        got = requests_of(doc)
        checks.append(
            Check(
                f"load.{side}.samples",
                got is not None and got >= need,
                f"{side}: {got if got is None else int(got)} requests (need >= {need})",
                got,
                need,
            )
        )
    load = gates.load
    checks += _latency_checks("ttft", load.ttft_p95_ms, ev, gates)
    checks += _latency_checks("itl", load.itl_p95_ms, ev, gates)
    checks += _latency_checks("e2e", load.e2e_p95_ms, ev, gates)
    canary_err, stable_err = error_rate_of(ev.canary_load), error_rate_of(ev.stable_load)
    if canary_err is None or stable_err is None:
        checks.append(Check("load.error_rate", False, "error rate missing from a load summary"))
    else:
        checks.append(
            Check(
                "load.error_rate.slo",
                canary_err <= load.max_error_rate,
                f"canary {canary_err:.2%} (max {load.max_error_rate:.2%})",
                canary_err,
                load.max_error_rate,
            )
        )
        delta = canary_err - stable_err
        checks.append(
            Check(
                "load.error_rate.vs_stable",
                delta <= gates.canary.max_error_rate_delta,
                f"canary - stable {delta:+.2%} (max {gates.canary.max_error_rate_delta:+.2%})",
                round(delta, 4),
                gates.canary.max_error_rate_delta,
            )
        )
    trunc = truncation_rate_of(ev.canary_load)
    if ev.canary_load.get("truncation_gated") is False:
        # An ignore_eos run goes to max_tokens by design (loadtest/metrics.py says so).
        checks.append(Check("load.truncation_rate", True, "not gated: ignore_eos run", trunc, None))
        return checks
    checks.append(
        Check(
            "load.truncation_rate",
            trunc is not None and trunc <= load.max_truncation_rate,
            "truncation rate missing from the canary load summary"
            if trunc is None
            else f"canary {trunc:.2%} (max {load.max_truncation_rate:.2%})",
            trunc,
            load.max_truncation_rate,
        )
    )
    return checks


def evaluate_step(evidence: StepEvidence, gates: Gates) -> StepResult:
    """Every check for one step; the step passes only if all pass."""
    checks: list[Check] = [Check("collection", False, problem) for problem in evidence.problems]
    checks += _identity_checks(evidence)
    checks += _load_checks(evidence, gates)
    checks += _eval_checks(evidence, gates)
    return StepResult(evidence.weight, tuple(checks))


def evaluate_smoke(evidence: StepEvidence, gates: Gates) -> StepResult:
    """The canary alone at weight 0, before any user request: its eval ran, names the version
    it serves, covers enough cases and meets every `eval.min_scores` floor. Comparing it with
    stable is the steps' job."""
    checks: list[Check] = [Check("collection", False, problem) for problem in evidence.problems]
    summary = evidence.canary_eval
    if summary is None:
        checks.append(Check("smoke.eval.evidence", False, "no smoke eval summary for the canary"))
        return StepResult(evidence.weight, tuple(checks))
    want = evidence.served.get("canary") or {}
    version, endpoint = str(want.get("model_version") or ""), _url(want.get("endpoint"))
    for label, model in _eval_models(evidence, "canary"):
        got, url = str(model.get("model_version") or ""), _url(model.get("endpoint"))
        checks.append(
            Check(
                "identity.eval.canary",
                bool(version) and got == version and url == endpoint,
                f"{label}: version {got or 'none'} at {url or 'no endpoint'} "
                f"(canary: version {version or '?'} at {endpoint or '?'})",
                got or None,
                version,
            )
        )
    checks.append(_min_cases_check(_eval_cases(summary), gates))
    checks += _min_scores(_eval_metrics(summary), set(), _skipped(summary), gates)
    return StepResult(evidence.weight, tuple(checks))
