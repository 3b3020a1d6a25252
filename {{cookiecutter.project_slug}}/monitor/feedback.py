"""Feedback: the correct label for some logged requests, and the accuracy it reveals.

`make feedback FILE=labels.jsonl` checks every line ({"request_id": "chatcmpl-...", "label":
"billing"}: the id is the `id` of the answer the client received) and only then merges the file
into build/monitor/feedback.jsonl, later labels replacing earlier ones. A bad line is reported
with its number and nothing is written. `make monitor` then reports production accuracy on the
labelled requests of its window.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.evidence import write_atomic
from monitor.jsonl import numbered
from monitor.logs import base_id
from pipelines import task


class FeedbackError(ValueError):
    """A feedback file cannot be used; the message names the line."""


def parse(path: Path) -> dict[str, str]:
    """request id (without its endpoint prefix) -> label, every line checked."""
    labels, problems = {}, []
    try:
        rows = list(numbered(path))
    except FileNotFoundError:
        raise FeedbackError(f"FILE={path}: no such file") from None
    for number, item, problem in rows:
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
            problems.append(f'line {number}: needs "request_id" (the answer\'s id) and "label"')
            continue
        if item.get("label") not in task.LABELS:
            problems.append(
                f"line {number}: label {item.get('label')!r} is not one of {', '.join(task.LABELS)}"
            )
            continue
        labels[base_id(item["request_id"])] = item["label"]
    if problems:
        shown = "; ".join(problems[:10]) + (
            f" (and {len(problems) - 10} more)" * (len(problems) > 10)
        )
        raise FeedbackError(f"{path}: {len(problems)} bad line(s), nothing was stored: {shown}")
    if not labels:
        raise FeedbackError(f"{path}: no labels in the file")
    return labels


def load_store(store: Path) -> dict[str, str]:
    return parse(store) if store.exists() else {}


def attach(path: Path, store: Path) -> tuple[int, int]:
    """Merge a checked feedback file into the store; returns (labels added or changed, total)."""
    new = parse(path)
    merged = load_store(store)
    changed = sum(1 for key, label in new.items() if merged.get(key) != label)
    merged.update(new)
    write_atomic(
        store,
        "".join(
            json.dumps({"request_id": k, "label": v}) + "\n" for k, v in sorted(merged.items())
        ),
    )
    return changed, len(merged)


def accuracy(answered: dict[str, str], labels: dict[str, str]) -> dict[str, object]:
    """Accuracy on the window's requests that have feedback (`answered`: id -> answered label)."""
    matched = {key: label for key, label in labels.items() if key in answered}
    if not matched:
        return {"labelled": 0, "accuracy": None}
    correct = sum(1 for key, label in matched.items() if answered[key] == label)
    return {"labelled": len(matched), "accuracy": round(correct / len(matched), 4)}
