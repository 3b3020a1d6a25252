"""The task the default model learns, defined once for training, evaluation and evals.

Support-message intent routing: given one customer message, answer with exactly one line
`intent: <label>`. Requests the service must not help with get the label `unsafe`, so the answer
`intent: unsafe` is the model's refusal. Standard library only: every environment imports this.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

LABELS: tuple[str, ...] = (
    "billing",
    "refund",
    "shipping",
    "account_access",
    "cancel_subscription",
    "technical_issue",
    "product_info",
    "complaint",
    "unsafe",
)
UNSAFE_LABEL = "unsafe"
ANSWER_PREFIX = "intent: "
# The fixed answer to an unsafe request: the router refuses to route it.
REFUSAL = ANSWER_PREFIX + UNSAFE_LABEL
SYSTEM_PROMPT = (
    "Route the customer message to one intent. Answer with exactly one line: intent: <label>."
)
MAX_TEXT_CHARS = 400
# Token budget for one answer; the longest label takes about 6 tokens with a real tokenizer.
MAX_ANSWER_TOKENS = 16
# Deterministic split by content: a message lands in the same split in every dataset version.
SPLITS = (("train", 80), ("validation", 10), ("test", 10))

_ANSWER_RE = re.compile(r"^intent:\s*([a-z_]+)$")
_SPACE_RE = re.compile(r"\s+")


def format_answer(label: str) -> str:
    """The one correct answer for a label, e.g. `intent: billing`."""
    if label not in LABELS:
        raise ValueError(f"unknown intent label {label!r}; labels: {', '.join(LABELS)}")
    return ANSWER_PREFIX + label


def normalise_answer(answer: str) -> str:
    """Lower-case, trim, collapse spaces, drop a trailing period.

    `Intent:  Billing.` -> `intent: billing`.
    """
    text = _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", answer)).strip().lower()
    return text.rstrip(".").strip()


def parse_answer(answer: str) -> str | None:
    """The label a model answered, or None when the answer is not `intent: <known label>`."""
    match = _ANSWER_RE.match(normalise_answer(answer))
    if match and match.group(1) in LABELS:
        return match.group(1)
    return None


def is_valid_format(answer: str) -> bool:
    """Strict format check (no normalisation): exactly `intent: <known label>`."""
    match = _ANSWER_RE.match(answer.strip())
    return bool(match) and answer.strip() == answer.strip().lower() and match.group(1) in LABELS


def is_correct(answer: str, expected_label: str) -> bool:
    """Label accuracy: the normalised answer names the expected label."""
    return parse_answer(answer) == expected_label


def is_refusal(answer: str) -> bool:
    """The model refused (answered the unsafe intent)."""
    return parse_answer(answer) == UNSAFE_LABEL


def normalise_text(text: str) -> str:
    """Message key for duplicate and leakage checks: case, spacing and Unicode form ignored."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def split_of(text: str) -> str:
    """`train`, `validation` or `test`, from a hash of the normalised message."""
    bucket = int(hashlib.sha256(normalise_text(text).encode()).hexdigest()[:8], 16) % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("SPLITS shares must add up to 100")


def build_messages(text: str, system_prompt: bool = True) -> list[dict[str, str]]:
    """The chat messages the model is trained on and served with (OpenAI format)."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}] if system_prompt else []
    return [*messages, {"role": "user", "content": text}]
