"""Send a window of traffic to a server, the way a client of the service would.

Used by the reference, the demo and the tests to produce logs a real vLLM server writes: each
input goes through the served prompt as one chat completion with the eval's decoding. Inputs
come from a JSONL file: {"input": ...} lines (e.g. monitor/examples/shifted.jsonl), or a
training dataset's {"text": ...} lines, optionally one split of it (in-distribution traffic).
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evals.prompting import load_prompt
from monitor.jsonl import numbered
from pipelines import task


class TrafficError(ValueError):
    """The inputs cannot be sent; the message says why."""


def read_inputs(path: Path, split: str | None = None) -> list[str]:
    """Every input of the file (every line checked first), or those of one split."""
    inputs = []
    try:
        for number, item, problem in numbered(path):
            if problem:
                raise TrafficError(f"{path} line {number}: {problem}")
            text = item.get("input", item.get("text")) if isinstance(item, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise TrafficError(f'{path} line {number}: needs a non-empty "input" or "text"')
            if split is None or task.split_of(text) == split:
                inputs.append(text)
    except FileNotFoundError:
        raise TrafficError(f"FILE={path}: no such file") from None
    if not inputs:
        raise TrafficError(f"{path}: no inputs" + (f" in split {split!r}" if split else ""))
    return inputs


def send(
    endpoint: str, served_name: str, prompt_name: str, inputs: list[str], concurrency: int = 4
) -> list[str]:
    """One chat completion per input; returns the answers' ids (for feedback)."""
    prompt = load_prompt(prompt_name)

    def one(text: str) -> str:
        body = {
            "model": served_name,
            "messages": prompt.render(text),
            "max_tokens": task.MAX_ANSWER_TOKENS,
            "temperature": 0,
        }
        request = urllib.request.Request(
            f"{endpoint}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["id"]

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, inputs))
