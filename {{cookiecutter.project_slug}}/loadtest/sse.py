"""Streamed chat completions (server-sent events) turned into latency measurements.

Pure code, no I/O: the locustfile feeds the raw bytes it receives, each with its arrival time,
and gets one `StreamResult`. Network chunks do not respect event boundaries (a line can be split
across chunks, one chunk can hold several events), so bytes are buffered until a full line.

Definitions (as vLLM's own benchmark client and the server's histograms, so they compare):
- token chunk: a chunk whose delta carries a generated token, i.e. has a `content` (or
  reasoning / tool-call) field, even an empty one. vLLM streams one chunk per token, and a token
  with no visible text (a special token, half of a multi-byte character) arrives as
  `"content": ""`: skipping those stretched ITL over two tokens. Not tokens: the role
  announcement (`{"role": "assistant", "content": ""}`) and a final chunk with an empty delta.
  A chunk may carry several tokens (vLLM merges them when the client falls behind); with
  `stream_options.continuous_usage_stats` every chunk reports the running
  `usage.completion_tokens`, and the increase is the chunk's token count, else it counts as 1.
- arrival: the time passed with the bytes to `feed` (the locustfile passes the time of the
  socket read that brought them). Chunks with the same arrival time arrived together.
- TTFT: request sent -> first token chunk.
- inter-token latency (ITL, `itl_s`), one value per token after the first arrival: the gap
  since the previous arrival, shared evenly by the tokens of this arrival. vLLM's benchmark
  client (vllm/benchmarks/lib/endpoint_request_func.py) appends `timestamp -
  most_recent_timestamp` per chunk, so tokens that arrive in one read get ~0 ms and the one
  before them the whole wait (our ITL p50 read 0.05 ms that way). Sharing the gap keeps vLLM's
  sum (last token - first token) and, with one token per chunk, its mean; only the bunched
  values differ. Tokens that came with the first one arrived 0 ms after it and get 0: an answer
  read at once still has an ITL (what the client saw), so the ITL gate always has figures.
- chunk ITL (`chunk_itl_s`): vLLM's client's definition exactly (gap between consecutive token
  chunks, 0 for chunks of one read), kept to compare with `vllm bench serve`.
- end-to-end: request sent -> end of the stream.
- output tokens: `usage.completion_tokens` of the last usage report (requested with
  `stream_options.include_usage`), else the tokens counted in the chunks.
- input tokens: `usage.prompt_tokens` as the server counted them (chat template included), as
  vLLM's client takes a completion's `prompt_len` from the usage report
  (vllm/benchmarks/lib/endpoint_request_func.py); None when the server reports no usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


class SSEDecoder:
    """Splits a byte stream into the payloads of its `data:` fields, one per event."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        payloads: list[str] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return payloads
            line = self._buffer[:newline].rstrip(b"\r").decode("utf-8", errors="replace")
            self._buffer = self._buffer[newline + 1 :]
            payload = self._line(line)
            if payload is not None:
                payloads.append(payload)

    def close(self) -> list[str]:
        """End of stream: an event not followed by a blank line still counts."""
        payloads = self.feed(b"\n") if self._buffer else []
        if self._data:
            payloads.append("\n".join(self._data))
            self._data = []
        return payloads

    def _line(self, line: str) -> str | None:
        if line == "":  # blank line: dispatch the event
            if not self._data:
                return None
            payload = "\n".join(self._data)
            self._data = []
            return payload
        if line.startswith(":"):  # comment / keep-alive
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None


@dataclass
class StreamResult:
    ttft_s: float | None
    itl_s: list[float]
    chunk_itl_s: list[float]
    e2e_s: float
    output_tokens: int
    token_chunks: int
    finish_reason: str | None
    error: str | None
    usage_reported: bool
    input_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class StreamMeter:
    """Accumulates one streamed response; `started_at` is when the request was sent."""

    started_at: float
    _decoder: SSEDecoder = field(default_factory=SSEDecoder)
    _first_at: float | None = None
    _last_at: float | None = None
    _itl: list[float] = field(default_factory=list)
    _chunk_itl: list[float] = field(default_factory=list)
    _chunks: int = 0
    _tokens: int = 0
    # The arrival being gathered (its time and tokens) and the one before it.
    _group_at: float | None = None
    _group_tokens: int = 0
    _previous_at: float | None = None
    _usage_tokens: int | None = None
    _prompt_tokens: int | None = None
    _finish_reason: str | None = None
    _error: str | None = None
    _done: bool = False

    def feed(self, chunk: bytes, at: float) -> None:
        for payload in self._decoder.feed(chunk):
            self._event(payload, at)

    def finish(self, at: float) -> StreamResult:
        for payload in self._decoder.close():
            self._event(payload, at)
        self._close_arrival()
        error = self._error
        if error is None and not self._done and self._finish_reason is None:
            error = "stream ended before a finish_reason or [DONE]"
        return StreamResult(
            ttft_s=None if self._first_at is None else self._first_at - self.started_at,
            itl_s=self._itl,
            chunk_itl_s=self._chunk_itl,
            e2e_s=at - self.started_at,
            output_tokens=self._usage_tokens if self._usage_tokens is not None else self._tokens,
            token_chunks=self._chunks,
            finish_reason=self._finish_reason,
            error=error,
            usage_reported=self._usage_tokens is not None,
            input_tokens=self._prompt_tokens,
        )

    def _event(self, payload: str, at: float) -> None:
        if payload.strip() == "[DONE]":
            self._done = True
            return
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            self.fail(f"malformed event: {payload[:120]!r}")
            return
        if not isinstance(event, dict):
            self.fail(f"unexpected event: {payload[:120]!r}")
            return
        # vLLM reports a failure inside a stream that already answered 200 as an error event.
        if "error" in event or event.get("object") == "error":
            detail = event.get("error", event)
            message = detail.get("message", detail) if isinstance(detail, dict) else detail
            self.fail(f"error event in stream: {message}")
            return
        usage = event.get("usage")
        new_tokens = 1
        if isinstance(usage, dict) and usage.get("prompt_tokens") is not None:
            self._prompt_tokens = int(usage["prompt_tokens"])
        if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
            total = int(usage["completion_tokens"])
            # Running count (continuous_usage_stats): its increase is this chunk's tokens.
            new_tokens = max(1, total - (self._usage_tokens or 0))
            self._usage_tokens = total
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            if _carries_token(choice.get("delta") or {}):
                self._token(at, new_tokens)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]

    def _token(self, at: float, tokens: int) -> None:
        if self._first_at is None:
            self._first_at = at
        else:
            self._chunk_itl.append(at - self._last_at)  # type: ignore[operator]
        self._last_at = at
        self._chunks += 1
        self._tokens += tokens
        if at != self._group_at:
            self._close_arrival()
            self._group_at = at
        self._group_tokens += tokens

    def _close_arrival(self) -> None:
        """Share the wait for the arrival just gathered among its tokens (see ITL above)."""
        if self._group_at is None:
            return
        if self._previous_at is not None:
            gap = self._group_at - self._previous_at
            self._itl += [gap / self._group_tokens] * self._group_tokens
        else:  # the first token's arrival: TTFT covers its wait, its companions waited 0
            self._itl += [0.0] * (self._group_tokens - 1)
        self._previous_at, self._group_at, self._group_tokens = self._group_at, None, 0

    def fail(self, message: str) -> None:
        if self._error is None:
            self._error = message


TOKEN_FIELDS = ("content", "reasoning_content", "reasoning", "tool_calls")


def _carries_token(delta: dict) -> bool:
    if delta.get("role") and not delta.get("content"):
        return False  # the role announcement that opens a stream
    return any(delta.get(name) is not None for name in TOKEN_FIELDS)


def measure(chunks: list[tuple[float, bytes]], started_at: float, ended_at: float) -> StreamResult:
    """Measure a recorded stream: (arrival time, bytes) pairs in arrival order."""
    meter = StreamMeter(started_at)
    for at, chunk in chunks:
        meter.feed(chunk, at)
    return meter.finish(ended_at)
