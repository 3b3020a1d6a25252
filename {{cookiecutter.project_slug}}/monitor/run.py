"""Judge one window of logged traffic: read, featurise, compare, decide, write the evidence.

Outcomes: `no_drift`, `drift` (each drifted signal named) or `inconclusive` (fewer requests
than gates.yaml monitoring.min_requests: too few to say either). Writes OUT/summary.json,
OUT/report.md and OUT/drift.html (evidently's report), atomically; an unreadable log or
reference fails before anything is written.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from common.evidence import stamp, write_atomic, write_json
from monitor import drift, feedback
from monitor.features import rows
from monitor.logs import LoggedRequest, Readout, base_id
from monitor.reference import Reference, load_reference
from policies.gates import MonitoringGates
from serving.spec import load_spec

NO_DRIFT, DRIFT, INCONCLUSIVE = "no_drift", "drift", "inconclusive"


def judge(
    readout: Readout,
    reference: Reference,
    gates: MonitoringGates,
    latency_slo_s: float,
    labels: dict[str, str] | None = None,
    html: Path | None = None,
) -> dict:
    """The summary document for one window (nothing written here but the optional HTML)."""
    # Requests whose body was cut at --max-log-len have no input text: counted, not judged.
    usable = [r for r in readout.requests if r.input is not None and not r.body_truncated]
    current = frame(usable, reference)
    counts = {
        "requests": len(usable),
        "log_lines": readout.lines,
        "malformed_lines": readout.malformed,
        "incomplete_requests": readout.incomplete,
        "truncated_bodies": len(readout.requests) - len(usable),
    }
    document = {
        "counts": counts,
        "malformed_examples": readout.malformed_examples,
        "window": {
            "first": usable[0].received_at.isoformat() if usable else None,
            "last": usable[-1].received_at.isoformat() if usable else None,
        },
        "reference": {
            "path": str(reference.path),
            "requests": len(reference.requests),
            **reference.meta,
        },
        "gates": gates.model_dump(),
        "latency_slo_s": latency_slo_s,
    }
    answered = {
        base_id(r.request_id): str(row["label"])
        for r, row in zip(usable, rows_of(current), strict=True)
    }
    document["feedback"] = feedback.accuracy(answered, labels or {})
    if len(usable) < gates.min_requests:
        document.update(
            outcome=INCONCLUSIVE,
            reason=f"{len(usable)} usable requests in the window, fewer than min_requests="
            f"{gates.min_requests} (policies/gates.yaml monitoring): too few to tell drift "
            "from chance; widen the window (SINCE=/UNTIL=) or wait for more traffic",
            signals=[],
            drifted=[],
        )
        return document
    found = drift.signals(
        frame(reference.requests, reference),
        current,
        [r.latency_s for r in usable if r.latency_s is not None],
        gates,
        latency_slo_s,
        html=html,
    )
    drifted = [s.name for s in found if s.drifted]
    document.update(
        outcome=DRIFT if drifted else NO_DRIFT,
        reason=f"drifted: {', '.join(drifted)}" if drifted else "every signal within its threshold",
        signals=[asdict(s) for s in found],
        drifted=drifted,
    )
    return document


def rows_of(table: pd.DataFrame) -> list[dict]:
    return table.to_dict("records") if len(table) else []


def frame(requests: list[LoggedRequest], reference: Reference) -> pd.DataFrame:
    """The feature table of logged requests, the served prompt's template stripped off."""
    texts = [reference.template.unwrap(r.input or "") for r in requests]
    return pd.DataFrame(rows(texts, [r.output for r in requests], reference.vocabulary))


def markdown(document: dict) -> str:
    counts = document["counts"]
    lines = [
        f"## Monitoring: {document['outcome'].replace('_', ' ')}",
        "",
        document["reason"],
        "",
        f"Window: {document['window']['first']} to {document['window']['last']}; "
        f"{counts['requests']} requests judged, {counts['malformed_lines']} malformed log lines, "
        f"{counts['incomplete_requests']} incomplete, "
        f"{counts['truncated_bodies']} with a cut body. "
        f"Reference: {document['reference']['requests']} held-out requests answered by model "
        f"version {document['reference']['model_version']} ({document['reference']['path']}).",
    ]
    if document["malformed_examples"]:
        lines += ["", "Malformed lines: " + "; ".join(document["malformed_examples"])]
    if document["signals"]:
        lines += [
            "",
            "| signal | statistic | value | threshold | drift |",
            "|---|---|---|---|---|",
        ]
        for s in document["signals"]:
            value = "n/a" if s["value"] is None else f"{s['value']:.3f}"
            if s["reference"] is not None:
                value += f" ({s['reference']:.3f} -> {s['current']:.3f})"
            mark = "**yes**" if s["drifted"] else "no"
            lines.append(f"| {s['name']} | {s['method']} | {value} | {s['threshold']:g} | {mark} |")
    fb = document["feedback"]
    if fb["labelled"]:
        lines += [
            "",
            f"Production accuracy on {fb['labelled']} labelled requests: {fb['accuracy']}",
        ]
    return "\n".join(lines) + "\n"


def run(
    readout: Readout,
    source: str,
    reference_path: Path,
    out: Path,
    gates: MonitoringGates,
    feedback_store: Path | None = None,
) -> dict:
    """Judge `readout` (from `source`: a log file or the stack's export); write the evidence."""
    reference = load_reference(reference_path)
    labels = feedback.load_store(feedback_store) if feedback_store else {}
    (out / "drift.html").unlink(missing_ok=True)  # an inconclusive window writes none
    document = judge(
        readout,
        reference,
        gates,
        load_spec().monitoring.e2e_p95_seconds,
        labels,
        html=out / "drift.html",
    )
    document["log"] = source
    document["stamp"] = stamp("monitor.run")
    write_atomic(out / "report.md", markdown(document))
    write_json(out / "summary.json", document)
    return document
