"""`make monitor STACK=` and `make monitor-export`: the BigQuery export read back as log lines.

BigQuery is not reachable here: a fake client stands at the boundary (`client.query(sql,
job_config).result()`), and its rows have the shape Cloud Logging's export gives them
(cloud.google.com/logging/docs/export/bigquery): a `timestamp` column and the `jsonPayload`
RECORD, which the query reads as JSON (TO_JSON_STRING), `time`/`severity` moved out of it.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import bigquery, cli
from monitor.export import candidates
from monitor.features import Template, Vocabulary
from monitor.logs import LogError, LoggedRequest, read_lines
from monitor.reference import Reference
from serving.request_log import LOGGER

T0 = datetime(2026, 12, 1, tzinfo=UTC)
TABLE = "acme-prod.llm_prod_request_logs.stdout"
PREFIX = "Classify this customer message:\n"


def row(kind: str, rid: str, seconds: float, keep_time: bool = False, **fields) -> dict:
    """One exported row: LogEntry `timestamp`, and the payload without the moved fields."""
    stamp = T0 + timedelta(seconds=seconds)
    payload = {"logger": LOGGER, "event": kind, "request_id": rid, **fields}
    if keep_time:
        payload["time"] = stamp.isoformat()
    return {"timestamp": stamp, "payload": json.dumps(payload)}


def request_rows(rid: str, seconds: float, text: str, answer: str) -> list[dict]:
    # Columns that exist in the table but not on this entry come back as null.
    return [
        row("request", rid, seconds, input=PREFIX + text, output=None, body_truncated=None),
        row("received", f"chatcmpl-{rid}", seconds + 0.01),
        row("output", f"chatcmpl-{rid}", seconds + 0.3, output=answer, finish_reason="stop"),
    ]


class FakeJob:
    def __init__(self, rows):
        self.rows = rows

    def result(self):
        return iter(self.rows)


class FakeClient:
    def __init__(self, rows=(), error: Exception | None = None):
        self.rows, self.error, self.calls = list(rows), error, []

    def query(self, sql, job_config=None):
        self.calls.append((sql, job_config))
        if self.error:
            raise self.error
        return FakeJob(self.rows)


def pulumi(stdout: str = "", returncode: int = 0, stderr: str = ""):
    seen = []

    def run(command, **kwargs):
        seen.append((command, kwargs))
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    run.seen = seen
    return run


OUTPUTS = pulumi(json.dumps({"request_logs_table": TABLE, "model_bucket": "b"}))


def reference() -> Reference:
    texts = ["where is my parcel", "my card was charged twice"]
    return Reference(
        path=Path("reference.json"),
        requests=[
            LoggedRequest(request_id=str(i), received_at=T0, input=texts[i % 2], output="intent: x")
            for i in range(60)
        ],
        template=Template(PREFIX, ""),
        meta={"model_version": "1", "prompt": "intent-router"},
        vocabulary=Vocabulary(texts),
    )


def test_rows_become_the_lines_read_lines_reads():
    rows = [*request_rows("a", 0, "where is my parcel", "intent: shipping")]
    lines = [bigquery.row_to_line(r) for r in rows]
    first = json.loads(lines[0])
    assert first["time"] == T0.isoformat() and "output" not in first  # nulls dropped
    (request,) = read_lines(lines).requests
    assert request.request_id == "chatcmpl-a" and request.input == PREFIX + "where is my parcel"
    assert request.output == "intent: shipping" and request.latency_s == pytest.approx(0.29)
    # A payload that kept its own `time` keeps it; a broken payload reaches read_lines as is.
    kept = row("received", "x", 5, keep_time=True)
    kept["timestamp"] = T0  # the entry's receive time may differ: the server's time wins
    assert json.loads(bigquery.row_to_line(kept))["time"] == (T0 + timedelta(seconds=5)).isoformat()
    broken = {"timestamp": T0, "payload": '{"logger": "' + LOGGER + '", "event": "outp'}
    assert read_lines([bigquery.row_to_line(broken)]).malformed == 1


def test_query_uses_parameters_for_the_window_and_the_table_from_the_stack():
    client = FakeClient(request_rows("a", 60, "hi", "intent: refund"))
    since, until = T0, T0 + timedelta(hours=1)
    readout, table, window = bigquery.read_stack("prod", since, until, client, OUTPUTS)
    assert table == TABLE and window == (since, until) and len(readout.requests) == 1
    ((sql, config),) = client.calls
    assert f"FROM `{TABLE}`" in sql
    assert "WHERE timestamp >= @since AND timestamp < @until" in sql
    assert since.isoformat() not in sql and "2026" not in sql  # values travel as parameters
    params = {p.name: (p.type_, p.value) for p in config.query_parameters}
    assert params == {
        "since": ("TIMESTAMP", since - bigquery.MARGIN),
        "until": ("TIMESTAMP", until + bigquery.MARGIN),
    }
    command, kwargs = OUTPUTS.seen[-1]
    assert command[:4] == ["pulumi", "stack", "output", "--json"]
    assert command[command.index("--stack") + 1] == "prod" and kwargs["cwd"] == bigquery.INFRA


def test_margin_rows_outside_the_window_are_not_judged():
    rows = [
        *request_rows("before", -30, "hi", "intent: refund"),
        *request_rows("inside", 10, "hi", "intent: refund"),
        *request_rows("after", 3600 + 30, "hi", "intent: refund"),
    ]
    readout, _, _ = bigquery.read_stack(
        "prod", T0, T0 + timedelta(hours=1), FakeClient(rows), OUTPUTS
    )
    assert [r.request_id for r in readout.requests] == ["chatcmpl-inside"]


def test_default_window_is_the_last_24_hours_up_to_now():
    now = T0 + timedelta(days=3)
    assert bigquery.window(None, None, now) == (now - timedelta(hours=24), now)
    until = T0 + timedelta(hours=5)
    assert bigquery.window(None, until, now) == (until - timedelta(hours=24), until)
    assert bigquery.window(T0, None, now) == (T0, now)
    with pytest.raises(LogError, match="not before UNTIL"):
        bigquery.window(now, T0)
    client = FakeClient()
    bigquery.read_stack("prod", client=client, run=OUTPUTS)
    params = {p.name: p.value for p in client.calls[0][1].query_parameters}
    assert params["until"] - params["since"] == timedelta(hours=24) + 2 * bigquery.MARGIN
    assert abs(params["until"] - bigquery.MARGIN - datetime.now(UTC)) < timedelta(minutes=1)


def test_stack_output_errors_say_what_to_do():
    def missing(command, **kwargs):
        raise FileNotFoundError(command[0])

    with pytest.raises(bigquery.StackError, match=r"pulumi CLI is not on PATH"):
        bigquery.request_logs_table("prod", missing)
    with pytest.raises(bigquery.StackError, match=r"request_logs_table.*make up STACK=prod"):
        bigquery.request_logs_table("prod", pulumi(json.dumps({"model_bucket": "b"})))
    with pytest.raises(bigquery.StackError, match=r"failed in infra/.*no stack named.*make up"):
        bigquery.request_logs_table("prod", pulumi(returncode=255, stderr="no stack named 'prod'"))
    with pytest.raises(bigquery.StackError, match=r"is not <project>\.<dataset>\.<table>"):
        bigquery.request_logs_table("prod", pulumi(json.dumps({"request_logs_table": "x`; DROP"})))
    with pytest.raises(bigquery.StackError, match=r"reading .* failed .*credentials"):
        bigquery.read_stack(
            "prod", T0, T0 + timedelta(hours=1), FakeClient(error=RuntimeError("403")), OUTPUTS
        )


def test_export_writes_reviewable_candidates(tmp_path):
    lines = [
        bigquery.row_to_line(r)
        for r in request_rows("a", 0, "where is my parcel", "intent: shipping")
    ]
    lines += [
        bigquery.row_to_line(r) for r in request_rows("b", 5, "refund please", "I think billing")
    ]
    assert candidates(read_lines(lines), reference()) == [
        {
            "request_id": "chatcmpl-a",
            "text": "where is my parcel",
            "answered_label": "shipping",
            "received_at": (T0 + timedelta(seconds=0.01)).isoformat(),
        },
        {
            "request_id": "chatcmpl-b",
            "text": "refund please",
            "answered_label": "(invalid)",
            "received_at": (T0 + timedelta(seconds=5.01)).isoformat(),
        },
    ]


def test_cli_export_from_a_local_log_and_nothing_written_on_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_reference", lambda path: reference())
    log = tmp_path / "stable.log"
    log.write_text(
        "INFO vLLM text line\n"
        + "".join(
            bigquery.row_to_line(r) + "\n"
            for r in request_rows("a", 0, "hi there", "intent: refund")
        )
    )
    out = tmp_path / "window.jsonl"
    assert cli.main(["export", "--log", str(log), "--out", str(out)]) == 0
    (line,) = out.read_text().splitlines()
    assert (
        json.loads(line)["text"] == "hi there"
        and "1 training-data candidates" in capsys.readouterr().out
    )
    out.unlink()
    assert cli.main(["export", "--log", str(tmp_path / "none.log"), "--out", str(out)]) == 2
    assert not out.exists() and "make serve" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise bigquery.StackError("STACK=prod has no stack output 'request_logs_table'")

    monkeypatch.setattr(bigquery, "read_stack", broken)
    assert cli.main(["export", "--stack", "prod", "--out", str(out)]) == 2
    assert not out.exists() and "request_logs_table" in capsys.readouterr().err
    assert cli.main(["run", "--stack", "prod", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "summary.json").exists()
    with pytest.raises(SystemExit):
        cli.main(["run", "--stack", "prod", "--log", str(log)])
