"""Read a window of the request log from its BigQuery export (`make monitor STACK=prod`).

On GKE the server's request-log JSON lines (serving/request_log.py) reach Cloud Logging as the
`jsonPayload` of `stdout` entries, and the stack's log sink (infra/monitoring_logs.py) routes them
to one date-partitioned table, the stack output `request_logs_table` = `<project>.<dataset>.stdout`,
partitioned on the LogEntry `timestamp` column. This module queries a window of that table and
turns every row back into the JSON line the server wrote, so `monitor.logs.read_lines` reads
production exactly as it reads a local log: one code path for both sources.

The table schema, per Cloud Logging's "BigQuery schema for logs"
(cloud.google.com/logging/docs/export/bigquery): LogEntry fields keep their names (`timestamp`,
`severity`, `jsonPayload`, ...); a structured payload without `@type` becomes the RECORD column
`jsonPayload`, its fields nested in it under their own names, lower-cased (unsupported
characters become underscores). The request log's keys are lower-case snake_case already, so
`jsonPayload.request_id`, `jsonPayload.event`, `jsonPayload.input` keep their names. A field
becomes a column only once some entry carried it (`body_truncated` may never have), so the query
reads the whole record as JSON (`TO_JSON_STRING(jsonPayload)`) rather than naming fields that may
not exist yet. Special JSON fields of structured logging (cloud.google.com/logging/docs/
structured-logging) are moved into the LogEntry: `severity`, and `time`, which becomes
`timestamp`, so a row without `jsonPayload.time` takes the row's `timestamp`.

SINCE/UNTIL are query parameters, never text in the SQL. The table id cannot be a parameter
(BigQuery parameters are values, not identifiers): it comes from the stack output and is checked
against the shape of a table id before it is quoted into the statement. The window is read with
a margin either side (MARGIN), so a request received near an edge keeps its body and its answer;
`read_lines` then keeps exactly the requests *received* in [since, until), as for a local log.

google-cloud-bigquery is imported only here, and only when a query runs: local runs need neither
the library's credentials nor a network.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.logs import LogError, Readout, read_lines

INFRA = Path(__file__).resolve().parent.parent / "infra"
OUTPUT = "request_logs_table"
DEFAULT_WINDOW = timedelta(hours=24)
MARGIN = timedelta(minutes=10)
# project (letters, digits, hyphens; `domain:project` for domain-scoped ones) . dataset . table
TABLE_RE = re.compile(r"^[a-z][a-z0-9.:-]*[a-z0-9]\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")
QUERY = """\
SELECT timestamp, TO_JSON_STRING(jsonPayload) AS payload
FROM `{table}`
WHERE timestamp >= @since AND timestamp < @until
ORDER BY timestamp"""


class StackError(LogError):
    """The stack does not say where its request logs are (no pulumi, no stack, no output)."""


def stack_outputs(stack: str, run: Callable[..., Any] = subprocess.run) -> dict[str, Any]:
    """`pulumi stack output --json` of `stack` in infra/ (non-secret outputs only)."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack, "--non-interactive"]
    try:
        result = run(command, cwd=INFRA, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise StackError(
            f"STACK={stack}: the pulumi CLI is not on PATH; it reads the stack output {OUTPUT} "
            "(install it: pulumi.com/docs/iac/download-install; or give LOG= a local log)"
        ) from None
    if result.returncode != 0:
        raise StackError(
            f"STACK={stack}: `{' '.join(command)}` failed in infra/: "
            f"{(result.stderr or result.stdout).strip()[-500:]} (is PULUMI_BACKEND_URL set and "
            f"the stack created with `make up STACK={stack}`?)"
        )
    try:
        outputs = json.loads(result.stdout or "{}")
    except ValueError:
        raise StackError(
            f"STACK={stack}: pulumi printed no JSON: {result.stdout[:200]!r}"
        ) from None
    return outputs if isinstance(outputs, dict) else {}


def request_logs_table(stack: str, run: Callable[..., Any] = subprocess.run) -> str:
    """The BigQuery table the stack's log sink writes the request log to."""
    table = stack_outputs(stack, run).get(OUTPUT)
    if not table:
        raise StackError(
            f"STACK={stack} has no stack output {OUTPUT!r}: the request-log sink is not deployed; "
            f"run `make up STACK={stack}` (infra/monitoring_logs.py)"
        )
    if not isinstance(table, str) or not TABLE_RE.match(table):
        raise StackError(
            f"STACK={stack}: output {OUTPUT}={table!r} is not <project>.<dataset>.<table>"
        )
    return table


def window(
    since: datetime | None, until: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The production window: UNTIL empty is now; SINCE empty is DEFAULT_WINDOW before UNTIL."""
    until = until or now or datetime.now(UTC)
    since = since or until - DEFAULT_WINDOW
    if since >= until:
        raise LogError(f"SINCE={since.isoformat()} is not before UNTIL={until.isoformat()}")
    return since, until


def row_to_line(row: Any) -> str:
    """One exported row (`timestamp`, `payload` = the jsonPayload RECORD as JSON) as the JSON line
    serving/request_log.py wrote. A row that cannot be turned back is passed on as the text it
    holds, so `read_lines` counts it as malformed rather than it vanishing here."""
    payload = row["payload"]
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return payload
    if not isinstance(payload, dict):
        return json.dumps(payload)
    line = {key: value for key, value in payload.items() if value is not None}
    if not line.get("time") and row["timestamp"] is not None:
        stamp = row["timestamp"]
        line["time"] = stamp.isoformat() if isinstance(stamp, datetime) else str(stamp)
    return json.dumps(line, ensure_ascii=False)


def query_rows(table: str, since: datetime, until: datetime, client: Any = None) -> Iterable[Any]:
    """The rows of [since - MARGIN, until + MARGIN), through query parameters."""
    from google.cloud import bigquery  # only on this path: local runs need no credentials

    client = client or bigquery.Client()
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since - MARGIN),
            bigquery.ScalarQueryParameter("until", "TIMESTAMP", until + MARGIN),
        ]
    )
    return client.query(QUERY.format(table=table), job_config=config).result()


def lines(rows: Iterable[Any]) -> Iterator[str]:
    for row in rows:
        yield row_to_line(row)


def read_stack(
    stack: str,
    since: datetime | None = None,
    until: datetime | None = None,
    client: Any = None,
    run: Callable[..., Any] = subprocess.run,
    now: datetime | None = None,
) -> tuple[Readout, str, tuple[datetime, datetime]]:
    """The readout of the stack's request log in the window, the table and the window read."""
    since, until = window(since, until, now)
    table = request_logs_table(stack, run)
    try:
        rows = query_rows(table, since, until, client)
        return read_lines(lines(rows), since, until), table, (since, until)
    except ImportError as error:
        raise StackError(
            f"google-cloud-bigquery is not installed ({error}): `bash scripts/venv.sh monitor`"
        ) from None
    except Exception as error:  # google.api_core / google.auth errors: say which table and why
        if isinstance(error, LogError):
            raise
        raise StackError(
            f"STACK={stack}: reading {table} failed ({type(error).__name__}: {error}); are Google "
            "credentials set (gcloud auth application-default login, or WIF in CI) with BigQuery "
            "Job User and read access to the dataset?"
        ) from None
