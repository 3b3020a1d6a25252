"""The canary gate: one step's evidence in, a list of checks out (pure; no I/O).

A step passes only when every check passes on the evidence gathered during that step. Missing
or partial evidence is a failed check, never a skipped one, so it can never promote. Evidence
must also name the model version and endpoint the controller says each side serves: a summary
from another model (or one that names none) fails its `identity.*` check.
Thresholds come from policies/gates.yaml (`load`, `eval`, `canary`) and are echoed in each check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from common.contracts import (
    ContractError,
    EvalCompare,
    EvalSummary,
    LoadSummary,
    ModelRef,
    StageGate,
)
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


# --- reading the evidence: each stage's document through its schema (common/contracts.py) --


@dataclass(frozen=True)
class Parsed:
    """A step's documents as their schemas; a document that does not match is a problem of its
    kind ("load" or "eval"), reported as that kind's evidence check."""

    stable_load: LoadSummary | None = None
    canary_load: LoadSummary | None = None
    eval_compare: EvalCompare | None = None
    stable_eval: EvalSummary | None = None
    canary_eval: EvalSummary | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)


def parse(ev: StepEvidence) -> Parsed:
    values: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    documents = (
        ("stable_load", "load", LoadSummary, "stable load summary"),
        ("canary_load", "load", LoadSummary, "canary load summary"),
        ("eval_compare", "eval", EvalCompare, "eval comparison (compare.json)"),
        ("stable_eval", "eval", EvalSummary, "stable eval summary"),
        ("canary_eval", "eval", EvalSummary, "canary eval summary"),
    )
    for name, kind, schema, what in documents:
        document = getattr(ev, name)
        if document is None:
            continue
        try:
            values[name] = schema.read(document, what)
        except ContractError as error:
            problems.setdefault(kind, []).append(str(error))
    return Parsed(**values, problems=problems)


def _schema_checks(parsed: Parsed, kind: str) -> list[Check]:
    return [Check(f"{kind}.evidence", False, problem) for problem in parsed.problems.get(kind, [])]


# --- identity: is this evidence about the models being judged? -------------------------------

SIDES = ("stable", "canary")


def _url(value: Any) -> str:
    return str(value).rstrip("/") if value else ""


def _eval_models(ev: Parsed, side: str) -> list[tuple[str, ModelRef]]:
    """(document, the model it records) for each eval document about `side`: `make eval`
    records `manifest.model`; `make eval-compare` copies each input's to `comparison.base.model`
    / `comparison.head.model`."""
    found: list[tuple[str, ModelRef]] = []
    if ev.eval_compare is not None:
        role = "base" if side == "stable" else "head"
        block = getattr(ev.eval_compare.comparison, role)
        found.append((f"compare.json {role}", block.model))
    summary = ev.stable_eval if side == "stable" else ev.canary_eval
    if summary is not None:
        found.append((f"{side} eval summary", summary.manifest.model))
    return found


def _identity_checks(ev: StepEvidence, parsed: Parsed) -> list[Check]:
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
        docs = _eval_models(parsed, side)
        for label, model in docs:
            got = model.model_version
            seen.append(got or None)
            if got in ("", "unknown"):
                problems.append(f"{label} names no model version")
            elif got != version:
                problems.append(f"{label} is from version {got}")
            if _url(model.endpoint) != endpoint:
                problems.append(f"{label} measured {model.endpoint or 'no endpoint'}")
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
        load = parsed.stable_load if side == "stable" else parsed.canary_load
        if load is not None:
            got_url = _url(load.endpoint)
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


def _skipped(*docs: EvalSummary | EvalCompare | None) -> dict[str, str]:
    """Why the suite skipped a metric (`skipped_metrics`, e.g. no judge configured)."""
    out: dict[str, str] = {}
    for doc in docs:
        if doc is not None:
            out.update({k: v for k, v in doc.skipped_metrics.items() if k not in out})
    return out


def _eval_checks(ev: Parsed, gates: Gates) -> list[Check]:
    margin = gates.eval.max_regression
    if ev.eval_compare is not None:
        inner = ev.eval_compare.comparison
        if not inner.metrics:
            return [Check("eval.evidence", False, "eval comparison has no per-metric rows")]
        checks = [_min_cases_check(inner.paired_cases, gates)]
        heads: dict[str, float] = {}
        bases: set[str] = set()
        for metric, row in sorted(inner.metrics.items()):
            if row.head is not None:
                heads[metric] = row.head
            if row.base is not None:
                bases.add(metric)
            if not row.gated:
                continue  # informational metrics (e.g. per-case latency) do not gate
            bound = row.ci_low if row.ci_low is not None else row.delta
            if bound is None:
                why = row.missing or "comparison row has no delta"
                checks.append(Check(f"eval.{metric}", False, f"not compared: {why}"))
                continue
            checks.append(
                _noninferiority(metric, bound, row.ci_low is not None, margin, row.outcome)
            )
        skipped = _skipped(ev.eval_compare, ev.canary_eval)
        return (
            checks + _min_scores(heads, bases, skipped, gates) + _stage_gate(ev.eval_compare.gate)
        )
    if ev.stable_eval is None or ev.canary_eval is None:
        which = "stable" if ev.stable_eval is None else "canary"
        return [
            Check("eval.evidence", False, f"missing eval results for {which}; refusing to promote")
        ]
    base, head = _means(ev.stable_eval), _means(ev.canary_eval)
    if not head:
        return [Check("eval.evidence", False, "canary eval summary has no metric scores")]
    checks = [_min_cases_check(len(ev.canary_eval.cases), gates)]
    gated = {name for name, score in ev.canary_eval.metrics.items() if score.gated}
    for metric in sorted(set(head) & gated):
        if metric not in base:
            checks.append(Check(f"eval.{metric}", False, "stable has no score for this metric"))
            continue
        checks.append(_noninferiority(metric, head[metric] - base[metric], False, margin))
    return (
        checks
        + _min_scores(head, set(base), _skipped(ev.canary_eval), gates)
        + _stage_gate(ev.canary_eval.gate)
    )


def _means(summary: EvalSummary) -> dict[str, float]:
    return {name: m.mean for name, m in summary.metrics.items() if m.mean is not None}


def _stage_gate(gate: StageGate | None) -> list[Check]:
    """The eval stage's own verdict (evals/gate.py), so every check it makes (leakage of the
    goldens, per-category safety minimums, a judge that scored too few cases) also holds the
    canary back, without the canary re-deriving each one. Evidence written before the eval
    gate recorded its verdict has none: judged on the rows above alone."""
    if gate is None:
        return []
    detail = (
        "the eval gate passed" if gate.passed else f"the eval gate failed: {', '.join(gate.failed)}"
    )
    return [Check("eval.gate", gate.passed, detail)]


def _min_cases_check(cases: int, gates: Gates) -> Check:
    need = gates.eval.min_cases
    return Check("eval.samples", cases >= need, f"{cases} cases (need >= {need})", cases, need)


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


LatencyMetric = Literal["ttft", "itl", "e2e"]


def _latency_checks(
    metric: LatencyMetric,
    slo: float,
    canary_load: LoadSummary,
    stable_load: LoadSummary,
    gates: Gates,
) -> list[Check]:
    canary, stable = canary_load.p95_ms(metric), stable_load.p95_ms(metric)
    sides = (("canary", canary_load), ("stable", stable_load))
    gapless = [side for side, doc in sides if metric == "itl" and doc.no_inter_token_gaps]
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


def _load_checks(ev: Parsed, gates: Gates) -> list[Check]:
    canary_load, stable_load = ev.canary_load, ev.stable_load
    if canary_load is None or stable_load is None:
        which = " and ".join(
            side for side, doc in (("stable", stable_load), ("canary", canary_load)) if doc is None
        )
        return [Check("load.evidence", False, f"missing load-test results for {which}")]
    need = gates.canary.min_requests_per_step
    checks = [
        Check(
            f"load.{side}.samples",
            doc.requests >= need,
            f"{side}: {doc.requests} requests (need >= {need})",
            doc.requests,
            need,
        )
        for side, doc in (("canary", canary_load), ("stable", stable_load))
    ]
    load = gates.load
    checks += _latency_checks("ttft", load.ttft_p95_ms, canary_load, stable_load, gates)
    checks += _latency_checks("itl", load.itl_p95_ms, canary_load, stable_load, gates)
    checks += _latency_checks("e2e", load.e2e_p95_ms, canary_load, stable_load, gates)
    canary_err, stable_err = canary_load.error_rate, stable_load.error_rate
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
    trunc = canary_load.truncation_rate
    if not canary_load.truncation_gated:
        # An ignore_eos run goes to max_tokens by design (loadtest/metrics.py says so).
        checks.append(Check("load.truncation_rate", True, "not gated: ignore_eos run", trunc, None))
        return checks
    checks.append(
        Check(
            "load.truncation_rate",
            trunc <= load.max_truncation_rate,
            f"canary {trunc:.2%} (max {load.max_truncation_rate:.2%})",
            trunc,
            load.max_truncation_rate,
        )
    )
    return checks


def _declared_checks(ev: Parsed, gates: Gates) -> list[Check]:
    """`canary.checks` of the gates: a dotted path into the canary's load summary and its range.
    A path the summary does not have, or a value that is not a number, fails the step."""
    if ev.canary_load is None or not gates.canary.checks:
        return []
    document = ev.canary_load.model_dump()
    checks = []
    for declared in gates.canary.checks:
        value: Any = document
        for key in declared.metric.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        bounds = " and ".join(
            f"{word} {limit:g}"
            for word, limit in (("min", declared.min), ("max", declared.max))
            if limit is not None
        )
        if isinstance(value, bool) or not isinstance(value, int | float):
            detail = f"{declared.metric} not in the canary load summary (needs {bounds})"
            checks.append(Check(f"load.{declared.name}", False, detail, None, bounds))
            continue
        passed = (declared.min is None or value >= declared.min) and (
            declared.max is None or value <= declared.max
        )
        detail = f"canary {declared.metric} {value:g} ({bounds})"
        checks.append(Check(f"load.{declared.name}", passed, detail, value, bounds))
    return checks


def evaluate_step(evidence: StepEvidence, gates: Gates) -> StepResult:
    """Every check for one step; the step passes only if all pass. A document that does not
    match its schema fails its kind's evidence check, and that kind is not judged further."""
    parsed = parse(evidence)
    checks: list[Check] = [Check("collection", False, problem) for problem in evidence.problems]
    checks += _identity_checks(evidence, parsed)
    checks += _schema_checks(parsed, "load") or (
        _load_checks(parsed, gates) + _declared_checks(parsed, gates)
    )
    checks += _schema_checks(parsed, "eval") or _eval_checks(parsed, gates)
    return StepResult(evidence.weight, tuple(checks))


def evaluate_smoke(evidence: StepEvidence, gates: Gates) -> StepResult:
    """The canary alone at weight 0, before any user request: its eval ran, names the version
    it serves, covers enough cases and meets every `eval.min_scores` floor. Comparing it with
    stable is the steps' job."""
    checks: list[Check] = [Check("collection", False, problem) for problem in evidence.problems]
    parsed = parse(evidence)
    summary = parsed.canary_eval
    if summary is None:
        problems = parsed.problems.get("eval") or ["no smoke eval summary for the canary"]
        checks += [Check("smoke.eval.evidence", False, problem) for problem in problems]
        return StepResult(evidence.weight, tuple(checks))
    want = evidence.served.get("canary") or {}
    version, endpoint = str(want.get("model_version") or ""), _url(want.get("endpoint"))
    for label, model in _eval_models(parsed, "canary"):
        got, url = model.model_version, _url(model.endpoint)
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
    checks.append(_min_cases_check(len(summary.cases), gates))
    checks += _min_scores(_means(summary), set(), _skipped(summary), gates)
    return StepResult(evidence.weight, tuple(checks))
