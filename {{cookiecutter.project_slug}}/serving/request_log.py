"""vLLM's request and answer log as structured, redacted JSON lines (one file, standard library).

vLLM logs requests through the logger `vllm.entrypoints.serve.utils.request_logger` when it runs
with `--enable-log-requests` / `--enable-log-outputs`
(vllm/entrypoints/serve/utils/request_logger.py):
  INFO   "Received request %s: params: %s, lora_request: %s."
  INFO   "Generated response %s%s: output: %r, finish_reason: %s"
  DEBUG  "Request %s JSON body: %s"                      (cut at --max-log-len characters)
  DEBUG  "Request %s details: prompt: %r, prompt_token_ids: %s, prompt_embeds shape: %s."
  DEBUG  "Generated response %s%s details: output_token_ids: %s"
The input text is only logged at DEBUG, so `logging_config()` sets that one logger to DEBUG and
leaves every other vLLM logger at INFO. vLLM reads the config from VLLM_LOGGING_CONFIG_PATH
(a logging.config.dictConfig document; vllm/logger.py), so this module is loaded by the server
process itself: locally from the project (PYTHONPATH), on GKE from a ConfigMap mounted beside the
config. It must stay one file that imports nothing but the standard library.

`RequestLogFormatter` turns each of those records into one JSON object:
  {"time", "severity", "logger", "event", "request_id", ...fields}
with event = request (the last user message), received, prompt (token count only), output (the
answer text and finish reason) or output_tokens (count only). `severity` is the field Cloud
Logging maps to the entry's severity, so on GKE each line becomes a structured jsonPayload.
Personal data is redacted by `redact()` before the line is written, so neither the local log
nor Cloud Logging nor the monitoring export ever holds an unredacted e-mail, phone or card number.
Token ids, sampling params and the system prompt are not kept: the monitor does not need them.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

LOGGER = "vllm.entrypoints.serve.utils.request_logger"
MODULE = "request_log"  # the name the vLLM process imports this file by
EVENTS = ("request", "received", "prompt", "output", "output_tokens")

# ---------------------------------------------------------------- redaction
EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# 13-19 digits with optional single spaces/dashes between them: card number candidates.
CARD_RE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
# Digits with spaces, dots, dashes or brackets: 9-15 digits after a +, 9-12 without one
# (longer unbroken numbers are tracking or account numbers, not phones).
PHONE_RE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{7,}\d(?![\d])")
RULES = ("card", "phone", "email")  # applied in this order: a card number is not a phone number


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if _luhn(digits) else match.group()


def _phone(match: re.Match) -> str:
    digits = len(re.sub(r"\D", "", match.group()))
    longest = 15 if match.group().startswith("+") else 12
    return "[PHONE]" if 9 <= digits <= longest else match.group()


def redact(text: str, rules: tuple[str, ...] | list[str] = RULES) -> str:
    """`text` with e-mail addresses, phone numbers and (Luhn-valid) card numbers replaced by
    [EMAIL], [PHONE] and [CARD]. Order numbers, prices and dates stay: they are too short."""
    for rule in RULES:
        if rule not in rules:
            continue
        if rule == "card":
            text = CARD_RE.sub(_card, text)
        elif rule == "phone":
            text = PHONE_RE.sub(_phone, text)
        else:
            text = EMAIL_RE.sub("[EMAIL]", text)
    return text


# ---------------------------------------------------------------- vLLM records -> events
def _last_user_message(body: str) -> tuple[str | None, dict[str, Any]]:
    """The last user message of a chat request body (or a completion's prompt), and why not."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, {"body_truncated": True}
    if not isinstance(document, dict):  # a logging formatter must never raise
        return None, {}
    if isinstance(document.get("prompt"), str):
        return document["prompt"], {}
    for message in reversed(document.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # content parts: keep the text ones
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return (content if isinstance(content, str) else None), {}
    return None, {}


def _count(ids: Any) -> int | None:
    if isinstance(ids, (list, tuple)):
        return len(ids)
    if isinstance(ids, str):  # vLLM formats the list with %s
        return ids.count(",") + 1 if ids.strip("[] ") else 0
    return None


def event_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """The event one request-logger record describes; None for any other message."""
    msg, args = str(record.msg), record.args if isinstance(record.args, tuple) else ()
    if not args:
        return None
    request_id = str(args[0])
    if msg.startswith("Request %s JSON body"):
        text, extra = _last_user_message(str(args[1]))
        return {"event": "request", "request_id": request_id, "input": text, **extra}
    if msg.startswith("Received request"):
        return {"event": "received", "request_id": request_id}
    if msg.startswith("Request %s details"):
        return {"event": "prompt", "request_id": request_id, "prompt_tokens": _count(args[2])}
    if msg.startswith("Generated response %s%s details"):
        return {
            "event": "output_tokens",
            "request_id": request_id,
            "output_tokens": _count(args[2]),
        }
    if msg.startswith("Generated response"):
        return {
            "event": "output",
            "request_id": request_id,
            "stream": str(args[1]).strip(" ()") or None,
            "output": args[2] if isinstance(args[2], str) else str(args[2]),
            "finish_reason": None if args[3] is None else str(args[3]),
        }
    return None


class RequestLogFormatter(logging.Formatter):
    """One JSON line per request-log record, personal data redacted; other records as text."""

    def __init__(self, rules: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = tuple(RULES if rules is None else rules)

    def format(self, record: logging.LogRecord) -> str:
        fields = event_fields(record) if record.name == LOGGER else None
        if fields is None:
            return super().format(record)
        for key in ("input", "output"):
            if isinstance(fields.get(key), str):
                fields[key] = redact(fields[key], self.rules)
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "severity": record.levelname,
            "logger": record.name,
            **fields,
        }
        return json.dumps(line, ensure_ascii=False)


def logging_config(rules: list[str], stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """The dictConfig vLLM loads: its usual INFO text log, plus the request log as JSON lines.

    The formatter is named by its module `request_log`: the server finds it through PYTHONPATH
    (serving/ locally, the ConfigMap's mount on GKE), the same way in both places."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "llmops": {
                "()": f"{MODULE}.RequestLogFormatter",
                "rules": list(rules),
                "fmt": "%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s",
                "datefmt": "%m-%d %H:%M:%S",
            }
        },
        "handlers": {
            "llmops": {
                "class": "logging.StreamHandler",
                "formatter": "llmops",
                "level": "DEBUG",
                "stream": stream,
            }
        },
        "loggers": {
            "vllm": {"handlers": ["llmops"], "level": "INFO", "propagate": False},
            # Only this logger logs the input text, and only at DEBUG.
            LOGGER: {"level": "DEBUG"},
        },
    }
