"""The request log: vLLM's own RequestLogger, through our logging config, gives redacted JSON
lines the monitor reads. Drives the installed vLLM code, not a copy of its message formats."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from monitor.logs import read_lines
from serving.request_log import LOGGER, MODULE, redact
from serving.spec import SPEC_FILE, SpecError, load_spec
from tests.serving.test_spec import write_spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+x@mail.example.co.uk today", "mail me at [EMAIL] today"),
        ("card 4111 1111 1111 1111 please", "card [CARD] please"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("call +44 20 7946 0958 or (415) 555-2671", "call [PHONE] or [PHONE]"),
        # Not personal data: order numbers, prices, dates, a Luhn-invalid long number.
        ("order #C7730 for $49.99 on 2026-11-30", "order #C7730 for $49.99 on 2026-11-30"),
        ("tracking 1234567890123", "tracking 1234567890123"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected


def test_redaction_rules_can_be_switched_off():
    assert redact("jane@example.com 4111111111111111", ["card"]) == "jane@example.com [CARD]"


@pytest.fixture
def vllm_request_logger(monkeypatch):
    """vLLM's RequestLogger writing through the dictConfig the server loads, into a buffer."""
    pytest.importorskip("vllm")
    from vllm.entrypoints.serve.utils.request_logger import RequestLogger

    monkeypatch.syspath_prepend(str(SPEC_FILE.parent))  # the formatter's module, as on GKE
    buffer = io.StringIO()
    config = load_spec().logging_config()
    config["handlers"]["llmops"]["stream"] = buffer
    assert config["formatters"]["llmops"]["()"] == f"{MODULE}.RequestLogFormatter"
    logging.config.dictConfig(config)
    yield RequestLogger(max_log_len=4096), buffer
    logging.getLogger("vllm").handlers.clear()


class _Body:
    """A request as vLLM's log_request_body sees it (a pydantic model with request_id)."""

    request_id = "abc123"

    def model_dump_json(self, exclude_unset: bool = True) -> str:
        return json.dumps(
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "route it"},
                    {"role": "user", "content": "refund to jane@example.com please"},
                ],
            }
        )


def test_vllm_request_logger_lines_are_redacted_json_the_monitor_reads(vllm_request_logger):
    request_logger, buffer = vllm_request_logger
    rid = "chatcmpl-abc123"
    request_logger.log_request_body(_Body())
    request_logger.log_inputs(rid, "<|user|>refund ...", [1, 2, 3], None, None, None)
    request_logger.log_outputs(rid, "intent: refund", [7, 8], finish_reason="stop")
    logging.getLogger("vllm.engine").info("an ordinary line stays text")
    lines = buffer.getvalue().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert {e["event"] for e in events} == {
        "request",
        "prompt",
        "received",
        "output",
        "output_tokens",
    }
    assert all(e["logger"] == LOGGER and e["severity"] in {"INFO", "DEBUG"} for e in events)
    assert "jane@example.com" not in buffer.getvalue()
    assert any(line.endswith("an ordinary line stays text") for line in lines)
    readout = read_lines(lines)
    assert readout.malformed == 0 and readout.incomplete == 0
    (request,) = readout.requests
    assert request.input == "refund to [EMAIL] please"
    assert (request.output, request.finish_reason) == ("intent: refund", "stop")
    assert (request.prompt_tokens, request.output_tokens) == (3, 2)
    assert request.latency_s is not None and request.latency_s >= 0


def test_logging_settings_become_vllm_flags(tmp_path):
    spec = load_spec()
    args = spec.local_args("/m", "svc", 1)
    assert {"--enable-log-requests", "--enable-log-outputs", "--no-enable-log-deltas"} <= set(args)
    assert args[args.index("--max-log-len") + 1] == str(spec.logging.max_log_len)
    # load_spec caches by path: one folder per variant.
    folders = [tmp_path / name for name in ("off", "half", "bad")]
    for folder in folders:
        folder.mkdir()
    off = load_spec(write_spec(folders[0], **{"logging.requests": False, "logging.outputs": False}))
    assert "--no-enable-log-requests" in off.local_args("/m", "svc", 1)
    with pytest.raises(SpecError, match="outputs: true needs requests: true"):
        load_spec(write_spec(folders[1], **{"logging.requests": False}))
    with pytest.raises(SpecError, match=r"logging\.redact"):
        load_spec(write_spec(folders[2], **{"logging.redact": ["ssn"]}))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}', "hi"),
        ('{"prompt": "complete this"}', "complete this"),
        ("[1, 2]", None),  # not a request object: no input, and the formatter does not raise
        ('{"messages": [{"role": "user", "cont', None),  # cut at --max-log-len
    ],
)
def test_the_input_is_the_last_user_message_whatever_the_body(body, expected):
    from serving.request_log import _last_user_message

    text, extra = _last_user_message(body)
    assert text == expected
    assert extra == ({"body_truncated": True} if body.endswith("cont") else {})
