"""The monitor's logic without a server: log windows, features, drift decisions, feedback, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import cli
from monitor.features import Template, Vocabulary, answer_features
from monitor.feedback import FeedbackError, accuracy, attach
from monitor.logs import LogError, LoggedRequest, read_lines, read_log
from monitor.reference import Reference
from monitor.run import judge
from monitor.traffic import TrafficError, read_inputs
from policies.gates import load_gates
from serving.request_log import LOGGER

T0 = datetime(2026, 12, 1, tzinfo=UTC)
GATES = load_gates().monitoring


def event(kind: str, rid: str, seconds: float, **fields) -> str:
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return json.dumps({"time": time, "logger": LOGGER, "event": kind, "request_id": rid, **fields})


def logged(rid: str, seconds: float, text: str, answer: str) -> list[str]:
    return [
        event("request", rid, seconds, input=text),
        event("received", f"chatcmpl-{rid}", seconds),
        event("output", f"chatcmpl-{rid}", seconds + 0.2, output=answer, finish_reason="stop"),
    ]


def test_events_join_by_request_id_and_other_lines_are_skipped():
    lines = ["INFO 12-01 vLLM started", *logged("a", 0, "where is my parcel", "intent: shipping")]
    readout = read_lines(lines)
    (request,) = readout.requests
    assert request.request_id == "chatcmpl-a" and request.input == "where is my parcel"
    assert request.latency_s == pytest.approx(0.2)
    assert (readout.lines, readout.malformed, readout.incomplete) == (4, 0, 0)


def test_malformed_and_incomplete_are_counted_with_line_numbers():
    lines = [
        *logged("a", 0, "hi", "intent: billing"),
        '{"logger": "' + LOGGER + '", "event": "outp',  # cut mid-line
        json.dumps({"logger": LOGGER, "event": "mystery", "request_id": "x", "time": "now"}),
        event("received", "chatcmpl-b", 1),  # never answered
    ]
    readout = read_lines(lines)
    assert readout.malformed == 2 and readout.incomplete == 1 and len(readout.requests) == 1
    assert readout.malformed_examples[0].startswith("line 4: not valid JSON")
    assert "unknown event 'mystery'" in readout.malformed_examples[1]


def test_window_is_half_open_on_receive_time(tmp_path):
    lines = [line for i in range(4) for line in logged(str(i), i * 10, "hi", "intent: refund")]
    readout = read_lines(lines, since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=30))
    assert [r.request_id for r in readout.requests] == ["chatcmpl-1", "chatcmpl-2"]
    with pytest.raises(LogError, match=r"SINCE=.* is not before UNTIL"):
        read_log(tmp_path / "x.log", T0, T0)
    with pytest.raises(LogError, match="make serve"):
        read_log(tmp_path / "missing.log")


def test_features_strip_the_template_and_measure_unknown_words():
    template = Template("Customer message:\n", "")
    assert template.unwrap("Customer message:\nmy card was charged") == "my card was charged"
    assert template.unwrap("raw text") == "raw text"
    vocabulary = Vocabulary(["my card was charged twice"])
    assert vocabulary.oov_rate("my card order #A1234") == pytest.approx(1 / 3)
    assert answer_features("intent: unsafe") == {
        "label": "unsafe",
        "refused": True,
        "format_valid": True,
    }
    assert answer_features("I think billing")["label"] == "(invalid)"


ENGLISH = [
    f"my {item} order {verb}"
    for item in ("lamp", "bag", "desk", "chair")
    for verb in ("is late", "was charged twice", "arrived broken", "never came", "needs a refund")
]
GERMAN = [f"meine Bestellung {w} ist kaputt und verspätet" for w in ("Lampe", "Tasche", "Tisch")]
LABELS = ["intent: shipping", "intent: billing", "intent: refund", "intent: complaint"]


def requests(texts: list[str], answers: list[str], count: int) -> list[LoggedRequest]:
    return [
        LoggedRequest(
            request_id=f"chatcmpl-{i}",
            received_at=T0 + timedelta(seconds=i),
            input=texts[i % len(texts)],
            output=answers[i % len(answers)],
            latency_s=0.05,
        )
        for i in range(count)
    ]


def reference_of(count: int = 200) -> Reference:
    return Reference(
        path=Path("reference.json"),
        requests=requests(ENGLISH, LABELS, count),
        template=Template(),
        meta={"model_version": "1", "prompt": "intent-router"},
        vocabulary=Vocabulary(ENGLISH),
    )


def readout_of(reqs: list[LoggedRequest]):
    return read_lines([]).model_copy(update={"requests": reqs, "lines": len(reqs)})


def test_same_distribution_is_no_drift():
    summary = judge(readout_of(requests(ENGLISH, LABELS, 120)), reference_of(), GATES, 30.0)
    assert summary["outcome"] == "no_drift", summary["signals"]
    assert {s["name"] for s in summary["signals"]} >= {"text", "label", "oov_rate", "latency_p95_s"}


def test_a_shift_is_drift_and_each_signal_is_named():
    shifted = requests(GERMAN, ["intent: unsafe"], 120)
    summary = judge(readout_of(shifted), reference_of(), GATES, 30.0)
    assert summary["outcome"] == "drift"
    assert {"text", "oov_rate", "label", "refusal_rate"} <= set(summary["drifted"])


def test_slow_answers_breach_the_serving_slo():
    slow = [r.model_copy(update={"latency_s": 45.0}) for r in requests(ENGLISH, LABELS, 120)]
    summary = judge(readout_of(slow), reference_of(), GATES, 30.0)
    assert summary["drifted"] == ["latency_p95_s"]


def test_a_small_window_is_inconclusive_not_no_drift():
    summary = judge(
        readout_of(requests(GERMAN, LABELS, GATES.min_requests - 1)), reference_of(), GATES, 30.0
    )
    assert summary["outcome"] == "inconclusive" and summary["signals"] == []


def test_feedback_is_checked_whole_before_anything_is_stored(tmp_path):
    store = tmp_path / "feedback.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"request_id": "chatcmpl-1", "label": "billing"}\n{"request_id": 2}\nnot json\n'
        '{"request_id": "chatcmpl-3", "label": "weather"}\n'
    )
    with pytest.raises(FeedbackError) as error:
        attach(bad, store)
    message = str(error.value)
    assert "3 bad line(s), nothing was stored" in message
    assert "line 2" in message and "line 3: not JSON" in message and "'weather'" in message
    assert not store.exists()
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"request_id": "chatcmpl-1", "label": "billing"}\n'
        '{"request_id": "chatcmpl-2", "label": "refund"}\n'
    )
    assert attach(good, store) == (2, 2)
    assert attach(good, store) == (0, 2)  # idempotent
    answered = {"1": "billing", "2": "shipping", "9": "refund"}
    assert accuracy(answered, {"1": "billing", "2": "refund"}) == {"labelled": 2, "accuracy": 0.5}


def test_cli_errors_say_what_to_do(tmp_path, capsys):
    assert (
        cli.main(
            ["run", "--reference", str(tmp_path / "none.json"), "--log", str(tmp_path / "none.log")]
        )
        == 2
    )
    assert "make serve" in capsys.readouterr().err
    log = tmp_path / "ok.log"
    log.write_text("")
    assert cli.main(["run", "--reference", str(tmp_path / "none.json"), "--log", str(log)]) == 2
    assert "make monitor-reference" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--since", "yesterday"])
    assert "ISO 8601" in capsys.readouterr().err
    assert cli.main(["traffic", "--name", "nobody", "--file", str(log)]) == 2
    assert "make serve NAME=nobody" in capsys.readouterr().err


def test_traffic_inputs_are_checked_with_line_numbers(tmp_path):
    path = tmp_path / "inputs.jsonl"
    path.write_text('{"input": "where is my parcel"}\n\n{"text": "refund please"}\n')
    assert read_inputs(path) == ["where is my parcel", "refund please"]
    path.write_text('{"input": "ok"}\n{"input": ""}\n')
    with pytest.raises(TrafficError, match='line 2: needs a non-empty "input"'):
        read_inputs(path)
    path.write_text('{"input": "ok"}\n{oops\n')
    with pytest.raises(TrafficError, match="line 2: not JSON"):
        read_inputs(path)
    with pytest.raises(TrafficError, match="no such file"):
        read_inputs(tmp_path / "missing.jsonl")
