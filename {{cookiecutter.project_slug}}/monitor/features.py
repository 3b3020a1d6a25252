"""What the monitor compares: a few numbers and labels per request, for traffic and reference alike.

text           the customer's message (the served prompt's template stripped off)
input_chars    its length in characters
oov_rate       share of its words the model never saw in training (the training data's
               vocabulary; digits are not words: order numbers say nothing about drift)
label          the label the model answered (pipelines/task.py), or "(invalid)"
refused        the answer is the task's refusal
format_valid   the answer has the task's strict format
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines import task

INVALID = "(invalid)"
# Letters only, and not glued to digits or underscores (#A1234 is an order number, not a word).
_WORD_RE = re.compile(r"(?<!\w)[^\W\d_]+(?:'[^\W\d_]+)?(?!\w)")


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


@dataclass(frozen=True)
class Template:
    """The served prompt's user template, split around its input placeholder."""

    prefix: str = ""
    suffix: str = ""

    def unwrap(self, message: str) -> str:
        """The customer's text inside a rendered user message (the message itself otherwise)."""
        if (
            message.startswith(self.prefix)
            and message.endswith(self.suffix)
            and len(message) >= len(self.prefix) + len(self.suffix)
        ):
            return message[len(self.prefix) : len(message) - len(self.suffix)]
        return message


class Vocabulary:
    def __init__(self, texts: Iterable[str]) -> None:
        self.counts: Counter[str] = Counter(w for t in texts for w in words(t))

    def oov_rate(self, text: str) -> float:
        """Share of the words of `text` the vocabulary lacks."""
        tokens = words(text)
        if not tokens:
            return 0.0
        return sum(1 for w in tokens if w not in self.counts) / len(tokens)


def answer_features(answer: str | None) -> dict[str, object]:
    label = task.parse_answer(answer or "")
    return {
        "label": label or INVALID,
        "refused": bool(answer) and task.is_refusal(answer or ""),
        "format_valid": bool(answer) and task.is_valid_format(answer or ""),
    }


def rows(
    inputs: Sequence[str], answers: Sequence[str | None], vocabulary: Vocabulary
) -> list[dict[str, object]]:
    """One feature row per (input, answer) pair."""
    return [
        {
            "text": text,
            "input_chars": len(text),
            "oov_rate": vocabulary.oov_rate(text),
            **answer_features(answer),
        }
        for text, answer in zip(inputs, answers, strict=True)
    ]
