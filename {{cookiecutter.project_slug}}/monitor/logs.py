"""Read a window of logged traffic: the JSON lines serving/request_log.py makes vLLM write.

One request is logged as several events (request, prompt, received, output_tokens, output), all
with the request id; the `request` event carries vLLM's body id without the endpoint's prefix
(`chatcmpl-`, `cmpl-`), so ids are compared without it. Lines that are not JSON objects are
vLLM's ordinary text log and are skipped; a JSON line that claims to be a request-log event but
cannot be read is *malformed* and is counted with its line number, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from serving.request_log import EVENTS, LOGGER

ID_PREFIXES = ("chatcmpl-", "cmpl-")
LINE_START = '{"time"'  # serving/request_log.py writes this key first
MAX_EXAMPLES = 5


class LogError(ValueError):
    """The log cannot be read at all (missing file, bad window)."""


class LoggedRequest(BaseModel):
    """One request and its answer, as the server logged them."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    received_at: datetime
    input: str | None = None
    output: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float | None = None
    body_truncated: bool = False


class Readout(BaseModel):
    """What a log window holds: complete requests, and what could not be used, with counts."""

    requests: list[LoggedRequest]
    lines: int
    malformed: int
    malformed_examples: list[str]
    # A request id with no `received` event (its start is outside the log) or no answer yet.
    incomplete: int


def base_id(request_id: str) -> str:
    for prefix in ID_PREFIXES:
        if request_id.startswith(prefix):
            return request_id[len(prefix) :]
    return request_id


def _event(line: str) -> dict | None:
    """The request-log event on this line; None for other lines; ValueError when malformed."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        event = json.loads(stripped)
    except ValueError as error:
        # Our formatter starts every line with "time"; such a line cut short is ours, damaged.
        if stripped.startswith(LINE_START) or LOGGER in stripped:
            raise ValueError(f"not valid JSON ({error.msg})") from None
        return None
    if not isinstance(event, dict) or event.get("logger") != LOGGER:
        return None
    if event.get("event") not in EVENTS:
        raise ValueError(f"unknown event {event.get('event')!r}")
    if not isinstance(event.get("request_id"), str) or not isinstance(event.get("time"), str):
        raise ValueError("no request_id or time")
    try:
        event["time"] = datetime.fromisoformat(event["time"])
    except ValueError:
        raise ValueError(f"time {event['time']!r} is not ISO 8601") from None
    return event


def read_lines(
    lines: Iterable[str], since: datetime | None = None, until: datetime | None = None
) -> Readout:
    """Join the events of each request; keep requests received in [since, until)."""
    merged: dict[str, dict] = {}
    count = malformed = 0
    examples: list[str] = []
    for number, line in enumerate(lines, start=1):
        count += 1
        try:
            event = _event(line)
        except ValueError as error:
            malformed += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(f"line {number}: {error}")
            continue
        if event is None:
            continue
        record = merged.setdefault(base_id(event["request_id"]), {})
        kind = event["event"]
        if kind == "received":
            record["received_at"] = event["time"]
            record["request_id"] = event["request_id"]
        elif kind == "request":
            record["input"] = event.get("input")
            record["body_truncated"] = bool(event.get("body_truncated"))
        elif kind == "prompt":
            record["prompt_tokens"] = event.get("prompt_tokens")
        elif kind == "output_tokens":
            record["output_tokens"] = event.get("output_tokens")
        else:
            record["output"] = event.get("output")
            record["finish_reason"] = event.get("finish_reason")
            record["answered_at"] = event["time"]
    requests, incomplete = [], 0
    for record in merged.values():
        if "received_at" not in record or "answered_at" not in record:
            incomplete += 1
            continue
        answered = record.pop("answered_at")
        if (since and record["received_at"] < since) or (until and record["received_at"] >= until):
            continue
        record["latency_s"] = (answered - record["received_at"]).total_seconds()
        try:
            requests.append(LoggedRequest(**record))
        except ValidationError as error:
            malformed += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(f"request {record.get('request_id')}: {error.errors()[0]['msg']}")
    requests.sort(key=lambda r: r.received_at)
    return Readout(
        requests=requests,
        lines=count,
        malformed=malformed,
        malformed_examples=examples,
        incomplete=incomplete,
    )


def read_log(path: Path, since: datetime | None = None, until: datetime | None = None) -> Readout:
    if since and until and since >= until:
        raise LogError(f"SINCE={since.isoformat()} is not before UNTIL={until.isoformat()}")
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return read_lines(handle, since, until)
    except FileNotFoundError:
        raise LogError(
            f"no log at {path}: serve a model (`make serve`) and send it traffic, or give "
            "LOG=<file> (a server log, or an export of the Cloud Logging sink as JSON lines)"
        ) from None
