"""The load test's prompt set: a committed JSONL file, validated and identified by its hash.

One line per prompt: {"id": "...", "messages": [{"role": ..., "content": ...}, ...]}.
The SHA-256 of the file goes into every summary, so two load results are only compared when
they were driven by the same prompts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.evidence import sha256_file

DEFAULT_PROMPTS = Path(__file__).with_name("prompts.jsonl")
ROLES = {"system", "user", "assistant"}


class PromptSetError(ValueError):
    """The prompt file cannot be used; the message names the line."""


@dataclass(frozen=True)
class PromptSet:
    path: Path
    sha256: str
    prompts: list[dict]


def _check(record: object, where: str) -> dict:
    if not isinstance(record, dict):
        raise PromptSetError(f"{where}: expected an object with 'id' and 'messages'")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise PromptSetError(f"{where}: 'id' must be a non-empty string")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise PromptSetError(f"{where}: 'messages' must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise PromptSetError(f"{where}: every message needs a role in {sorted(ROLES)}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            raise PromptSetError(f"{where}: every message needs non-empty 'content'")
    if messages[-1]["role"] != "user":
        raise PromptSetError(f"{where}: the last message must be the user's")
    return {"id": record["id"], "messages": messages}


def load_prompts(path: Path = DEFAULT_PROMPTS) -> PromptSet:
    if not path.is_file():
        raise PromptSetError(f"prompt set {path} not found")
    prompts, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = _check(json.loads(line), where)
        except json.JSONDecodeError as error:
            raise PromptSetError(f"{where}: not valid JSON ({error.msg})") from error
        if record["id"] in seen:
            raise PromptSetError(f"{where}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        prompts.append(record)
    if not prompts:
        raise PromptSetError(f"prompt set {path} is empty")
    return PromptSet(path=path, sha256=sha256_file(path), prompts=prompts)
