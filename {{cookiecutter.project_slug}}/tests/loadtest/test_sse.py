"""Metric extraction from recorded streams, including the ways network chunks split events."""

from __future__ import annotations

import json

import pytest

from loadtest.sse import SSEDecoder, measure


def event(content: str | None = None, finish: str | None = None, role: str | None = None) -> bytes:
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def usage(completion_tokens: int) -> bytes:
    body = {
        "id": "c1",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": completion_tokens},
    }
    return f"data: {json.dumps(body)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def vllm_stream() -> list[bytes]:
    """What vLLM sends: a role chunk with empty content, one chunk per token (the end-of-sequence
    token has no text), usage, [DONE]."""
    return [
        event("", role="assistant"),
        event("intent"),
        event(":"),
        event(" billing"),
        event("", finish="stop"),
        usage(4),
        DONE,
    ]


def test_timings_of_a_clean_stream() -> None:
    chunks = [
        (t, c)
        for t, c in zip([0.10, 0.20, 0.25, 0.40, 0.41, 0.41, 0.42], vllm_stream(), strict=True)
    ]
    result = measure(chunks, started_at=0.0, ended_at=0.5)
    # The role announcement is not a token: TTFT is the first generated token.
    assert result.ttft_s == pytest.approx(0.20)
    assert result.itl_s == pytest.approx([0.05, 0.15, 0.01])
    assert result.chunk_itl_s == pytest.approx(result.itl_s)  # one token per read: the same
    assert result.e2e_s == pytest.approx(0.5)
    assert result.output_tokens == 4 and result.usage_reported
    assert result.finish_reason == "stop" and result.ok and not result.truncated


def test_lines_split_across_network_chunks_are_reassembled() -> None:
    raw = b"".join(vllm_stream())
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]  # splits inside JSON and "data:"
    result = measure([(1.0 + i * 0.01, p) for i, p in enumerate(pieces)], 0.0, 2.0)
    assert result.ok and result.token_chunks == 4 and result.output_tokens == 4
    # Time is that of the chunk that completed the event's line.
    first_token_end = raw.index(b"intent") + raw[raw.index(b"intent") :].index(b"\n\n")
    assert result.ttft_s == pytest.approx(1.0 + (first_token_end // 7) * 0.01)


def test_a_stream_in_one_read_has_a_ttft_and_zero_gaps() -> None:
    # Everything came with the first token: the client saw no wait between the tokens.
    result = measure([(0.3, b"".join(vllm_stream()))], 0.0, 0.3)
    assert result.ttft_s == pytest.approx(0.3)
    assert result.itl_s == [0.0, 0.0, 0.0] and result.chunk_itl_s == [0.0, 0.0, 0.0]
    assert result.output_tokens == 4


def test_tokens_of_one_read_share_the_wait_for_it() -> None:
    # A fake byte stream as the socket delivered it: the client read late, so three token
    # events came in one read after 0.3 s.
    events = vllm_stream()
    reads = [
        (0.1, events[0]),  # role
        (0.2, events[1]),  # first token
        (0.5, events[2] + events[3] + events[4]),  # three tokens, one read
        (0.6, events[5] + events[6]),  # usage, [DONE]
    ]
    result = measure(reads, 0.0, 0.6)
    assert result.ttft_s == pytest.approx(0.2)
    assert result.itl_s == pytest.approx([0.1, 0.1, 0.1])  # per token, not [0.3, 0, 0]
    # vLLM's benchmark client's definition, per chunk, as it would record it.
    assert result.chunk_itl_s == pytest.approx([0.3, 0.0, 0.0])
    # Same span as vLLM's: the gaps add up to last token - first token.
    assert sum(result.itl_s) == pytest.approx(sum(result.chunk_itl_s))


def test_an_event_split_across_reads_arrives_with_its_last_byte() -> None:
    first, second = event("a"), event("b")
    reads = [(0.1, first), (0.2, second[:15]), (0.35, second[15:] + event("", "stop") + DONE)]
    result = measure(reads, 0.0, 0.4)
    assert result.ttft_s == pytest.approx(0.1)
    assert result.itl_s == pytest.approx([0.125, 0.125])  # "b" and the end token, one read
    assert result.chunk_itl_s == pytest.approx([0.25, 0.0])


def continuous(
    content: str, tokens: int, finish: str | None = None, role: str | None = None
) -> bytes:
    """A chunk with `stream_options.continuous_usage_stats`: the running token count."""
    body = json.loads(event(content, finish, role)[len(b"data: ") :])
    body["usage"] = {"prompt_tokens": 9, "completion_tokens": tokens}
    return f"data: {json.dumps(body)}\n\n".encode()


def test_a_chunk_of_several_tokens_shares_its_gap_among_them() -> None:
    # vLLM merges tokens into one chunk when the client falls behind; the running usage says so.
    chunks = [
        continuous("", 0, role="assistant"),  # the role chunk carries usage too; no token
        continuous("a", 1),
        continuous("bc", 3),
        continuous("", 4, finish="length"),
        usage(4),
        DONE,
    ]
    times = [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    result = measure(list(zip(times, chunks, strict=True)), 0.0, 0.5)
    assert result.token_chunks == 3 and result.output_tokens == 4
    assert result.itl_s == pytest.approx([0.1, 0.1, 0.1])
    assert result.chunk_itl_s == pytest.approx([0.2, 0.1])


def test_crlf_comments_and_multiline_data() -> None:
    decoder = SSEDecoder()
    raw = b': keep-alive\r\n\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert decoder.feed(raw) == ['{"a":\n1}', "[DONE]"]


def test_a_token_without_text_is_a_token_but_the_role_announcement_is_not() -> None:
    # vLLM streams a special token or half a multi-byte character as `"content": ""`; skipping
    # it would stretch one inter-token gap over two tokens.
    chunks = [
        event("", role="assistant"),  # 0.1: announcement
        event(""),  # 0.2: a token without text
        event(None),  # 0.3: empty delta
        event("x"),  # 0.4
        event("", "stop"),  # 0.5: the end-of-sequence token
        DONE,
    ]
    result = measure([(0.1 * (i + 1), c) for i, c in enumerate(chunks)], 0.0, 1.0)
    assert result.token_chunks == 3 and result.ttft_s == pytest.approx(0.2)
    assert result.itl_s == pytest.approx([0.2, 0.1])


def test_role_chunk_with_text_and_tool_call_deltas_are_tokens() -> None:
    tool_call = json.dumps(
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}, "finish_reason": None}]}
    )
    chunks = [event("Hi", role="assistant"), f"data: {tool_call}\n\n".encode(), DONE]
    result = measure([(0.1, chunks[0]), (0.3, chunks[1]), (0.4, chunks[2])], 0.0, 0.5)
    assert result.token_chunks == 2 and result.ttft_s == pytest.approx(0.1)
    assert result.itl_s == pytest.approx([0.2])


def test_without_usage_chunk_tokens_are_counted() -> None:
    chunks = [event("a"), event("b"), event("c", finish="length"), DONE]
    result = measure([(0.1, c) for c in chunks], 0.0, 0.2)
    assert result.output_tokens == 3 and not result.usage_reported
    assert result.truncated and result.ok


def test_usage_wins_over_counted_chunks() -> None:
    # One chunk may carry several tokens (detokenisation): the server's count is the truth.
    chunks = [event("ab"), event("cd", finish="stop"), usage(4), DONE]
    assert measure([(0.1, c) for c in chunks], 0.0, 0.2).output_tokens == 4


def test_error_event_mid_stream() -> None:
    error = b'data: {"error": {"message": "engine died", "type": "InternalServerError"}}\n\n'
    result = measure([(0.1, event("a")), (0.2, error), (0.3, DONE)], 0.0, 0.3)
    assert not result.ok and "engine died" in result.error
    assert result.ttft_s == pytest.approx(0.1)


def test_legacy_error_object_mid_stream() -> None:
    error = b'data: {"object": "error", "message": "bad", "code": 400}\n\n'
    result = measure([(0.1, error)], 0.0, 0.1)
    assert not result.ok and "bad" in result.error and result.ttft_s is None


def test_stream_cut_before_the_end_is_an_error() -> None:
    result = measure([(0.1, event("a")), (0.2, event("b"))], 0.0, 0.3)
    assert not result.ok and "ended before" in result.error


def test_done_without_blank_line_at_end_of_stream() -> None:
    result = measure([(0.1, event("a", finish="stop")), (0.2, b"data: [DONE]")], 0.0, 0.2)
    assert result.ok and result.output_tokens == 1


def test_malformed_json_is_an_error() -> None:
    result = measure([(0.1, b"data: {not json\n\n"), (0.2, DONE)], 0.0, 0.2)
    assert not result.ok and "malformed" in result.error
