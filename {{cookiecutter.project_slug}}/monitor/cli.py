"""`make monitor`, `make feedback` and `make monitor-traffic` (see monitor/README.md).

    python -m monitor.cli reference --training-data pipelines/data/intents.jsonl [--name stable]
    python -m monitor.cli run [--log build/serving/stable.log | --stack prod] [--reference PATH]
                              [--since ISO] [--until ISO] [--out build/monitor]
    python -m monitor.cli export [--log PATH | --stack prod] [--since ISO] [--until ISO]
                                 [--reference PATH] --out build/monitor/window.jsonl
    python -m monitor.cli feedback --file labels.jsonl
    python -m monitor.cli traffic [--name stable] --file inputs.jsonl [--split validation]

With --stack the window is read from the stack's BigQuery request-log export (monitor/bigquery.py;
no --since: the last 24 hours up to --until, default now); with a local log, no --since is the
whole log.

Exit codes: 0 no drift or inconclusive (the summary says which), 1 drift, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from common.evidence import BUILD
from evals.prompting import PromptError
from monitor import bigquery
from monitor.export import export
from monitor.feedback import FeedbackError, attach
from monitor.logs import LogError, Readout, read_log
from monitor.reference import ReferenceDataError, build_reference, load_reference, served_prompt
from monitor.run import DRIFT, run
from monitor.traffic import TrafficError, read_inputs, send
from policies.gates import GatesError, load_gates

OUT = BUILD / "monitor"
FEEDBACK_STORE = OUT / "feedback.jsonl"
DEFAULT_REFERENCE = OUT / "reference.json"
DEFAULT_LOG = BUILD / "serving" / "stable.log"


def timestamp(value: str) -> datetime:
    """ISO 8601; a time without zone is UTC (log times are UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give an ISO 8601 time, e.g. 2026-12-01T00:00 or 2026-12-01T00:00+00:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def server(name: str) -> dict:
    path = BUILD / "serving" / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TrafficError(
            f"no server named {name!r}: start one with `make serve NAME={name}`"
        ) from None


def read_window(args: argparse.Namespace) -> tuple[Readout, str]:
    """The window's readout and where it came from: the stack's BigQuery export or a local log."""
    if args.stack:
        readout, table, (since, until) = bigquery.read_stack(args.stack, args.since, args.until)
        return readout, f"bigquery:{table} [{since.isoformat()}, {until.isoformat()})"
    log = args.log or DEFAULT_LOG
    return read_log(log, args.since, args.until), str(log)


def source_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--log", type=Path, help=f"a local server log (default: {DEFAULT_LOG})")
    where.add_argument("--stack", help="a Pulumi stack: its BigQuery request-log export")
    parser.add_argument("--since", type=timestamp)
    parser.add_argument("--until", type=timestamp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="judge a window of logged traffic")
    source_arguments(p_run)
    p_run.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p_run.add_argument("--out", type=Path, default=OUT)
    p_export = sub.add_parser("export", help="a window's requests as training-data candidates")
    source_arguments(p_export)
    p_export.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p_export.add_argument("--out", type=Path, required=True, help="JSONL to write")
    p_feedback = sub.add_parser("feedback", help="attach labels to logged request ids")
    p_feedback.add_argument("--file", type=Path, required=True)
    p_reference = sub.add_parser("reference", help="record the reference from a local server")
    p_reference.add_argument("--name", default="stable")
    p_reference.add_argument("--training-data", type=Path, required=True)
    p_reference.add_argument("--out", type=Path, default=DEFAULT_REFERENCE)
    p_traffic = sub.add_parser("traffic", help="send a window of requests to a local server")
    p_traffic.add_argument("--name", default="stable")
    p_traffic.add_argument("--file", type=Path, required=True, help='JSONL: {"input"} or {"text"}')
    p_traffic.add_argument(
        "--split", choices=("train", "validation", "test"), help="only this split of a dataset"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            gates = load_gates().monitoring
            readout, source = read_window(args)
            document = run(readout, source, args.reference, args.out, gates, FEEDBACK_STORE)
            print((args.out / "report.md").read_text(), end="")
            return 1 if document["outcome"] == DRIFT else 0
        if args.command == "export":
            readout, source = read_window(args)
            found = export(readout, load_reference(args.reference), args.out)
            print(f"{len(found)} training-data candidates from {source} -> {args.out}")
            return 0
        if args.command == "feedback":
            changed, total = attach(args.file, FEEDBACK_STORE)
            print(f"{changed} labels added or changed; {total} in {FEEDBACK_STORE}")
            return 0
        target = server(args.name)
        if args.command == "reference":
            document = build_reference(target, args.training_data, Path(target["log"]), args.out)
            print(f"reference: {len(document['requests'])} held-out requests -> {args.out}")
            return 0
        inputs = read_inputs(args.file, args.split)
        ids = send(target["endpoint"], target["served_model_name"], served_prompt(), inputs)
        print(f"sent {len(ids)} requests to '{args.name}' ({target['endpoint']})")
        return 0
    except (
        LogError,
        ReferenceDataError,
        FeedbackError,
        TrafficError,
        GatesError,
        PromptError,
        OSError,
    ) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
