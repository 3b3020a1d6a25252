"""The output-side safety guard, in Llama Guard's format: is the model's answer safe?

A guard reads a conversation (the user's request and the agent's answer) and answers `safe`, or
`unsafe` and on a second line the violated hazard categories (`S1`-`S14`, the MLCommons taxonomy
Llama Guard 3 uses), e.g. `unsafe\\nS1`. The conversation is sent as chat messages, so the guard's
own chat template builds its prompt: Llama Guard 3 or ShieldGemma served on GKE by the serving
definition, or locally the small guard this module trains, served by vLLM. The client code
(evals/guard.py) is the same for both.

For this project an answer is unsafe when the request is (its data's `unsafe` intent, with a
category in `meta.category`) and the router did not refuse it: it routed the request to a
support queue. A refusal, or any answer to a harmless request, is safe.

`make test-guard` trains the small guard with the training code's tiny Llama on the training
data's safety examples: for each unsafe request one refusing answer (`safe`) and one routed
answer (`unsafe` + its category); for harmless requests their correct answer and, as often, the
refusal (over-refusal is not a safety harm: `safe`).
"""

from __future__ import annotations

import contextlib
import json
import random
from dataclasses import dataclass
from typing import Any

from pipelines import task

# Llama Guard 3's categories (https://huggingface.co/meta-llama/Llama-Guard-3-8B, model card).
CATEGORIES = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}
SAFE, UNSAFE = "safe", "unsafe"
# "unsafe\nS10,S14": a handful of tokens; the guard's max_tokens.
MAX_VERDICT_TOKENS = 12


@dataclass(frozen=True)
class Verdict:
    safe: bool
    categories: tuple[str, ...] = ()


class VerdictError(ValueError):
    """The guard's answer is not in Llama Guard's format."""


def verdict_text(categories: list[str] | tuple[str, ...] = ()) -> str:
    """What the guard answers: `safe`, or `unsafe` and the categories on the second line."""
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown hazard categories {unknown}; known: S1-S14")
    return f"{UNSAFE}\n{','.join(categories)}" if categories else SAFE


def parse_verdict(text: str) -> Verdict:
    """Llama Guard's answer: first line `safe` or `unsafe`, then comma-separated categories."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or lines[0].lower() not in (SAFE, UNSAFE):
        raise VerdictError(f"expected 'safe' or 'unsafe' on the first line, got {text[:60]!r}")
    if lines[0].lower() == SAFE:
        return Verdict(True)
    codes = tuple(c.strip() for c in ",".join(lines[1:]).split(",") if c.strip())
    unknown = [c for c in codes if c not in CATEGORIES]
    if unknown:
        raise VerdictError(f"unknown hazard categories {unknown} in {text[:60]!r}")
    return Verdict(False, codes)


def category_of(record: dict[str, Any]) -> str:
    """`S1` from the data's `meta.category` (`S1-violent-crimes`)."""
    category = str((record.get("meta") or {}).get("category") or "")
    code = category.split("-", 1)[0]
    if code not in CATEGORIES:
        raise ValueError(
            f"record {record.get('id')!r}: an unsafe example needs meta.category S1-S14 "
            f"(got {category!r})"
        )
    return code


def conversation(request: str, answer: str) -> list[dict[str, str]]:
    """The messages a guard is sent: the user's request and the agent's answer."""
    return [{"role": "user", "content": request}, {"role": "assistant", "content": answer}]


def guard_examples(records: list[dict], seed: int) -> list[tuple[list[dict[str, str]], str]]:
    """(conversation, verdict) pairs from intent records (see the module docstring)."""
    rng = random.Random(seed)
    routed = [label for label in task.LABELS if label != task.UNSAFE_LABEL]
    examples = []
    for record in records:
        text = record["text"]
        if record["intent"] == task.UNSAFE_LABEL:
            examples.append((conversation(text, task.REFUSAL), SAFE))
            # Two routed answers each: unsafe verdicts are otherwise too rare to learn.
            for label in rng.sample(routed, 2):
                verdict = verdict_text([category_of(record)])
                examples.append((conversation(text, task.format_answer(label)), verdict))
        else:
            examples.append((conversation(text, task.format_answer(record["intent"])), SAFE))
            if rng.random() < 0.25:
                examples.append((conversation(text, task.REFUSAL), SAFE))
    return examples


def tokenizer_corpus(records: list[dict]) -> list[str]:
    """Texts the guard's tokenizer learns from: requests, answers and the verdicts."""
    verdicts = [SAFE, UNSAFE, *CATEGORIES] * 50
    answers = [task.format_answer(label) for label in task.LABELS] * 50
    return [r["text"] for r in records] + answers + verdicts


def encode(tokenizer: Any, messages: list[dict[str, str]], verdict: str) -> tuple[list, list]:
    """(input_ids, labels): the conversation through the chat template, loss on the verdict."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    verdict_ids = tokenizer(verdict + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return prompt_ids + verdict_ids, [-100] * len(prompt_ids) + verdict_ids


def train_guard(records_by_split: dict[str, list[dict]], config: Any, out_dir: Any) -> dict:
    """Train the small guard (the embedded tiny Llama) and save it for vLLM; returns metrics,
    with its verdict accuracy on the held-out split's conversations."""
    from pipelines.modeling import EMBEDDED_MODEL, create_model, save_for_serving
    from pipelines.training import seed_everything, train, training_host

    train_records = records_by_split.get("train", [])
    seed_everything(config.seed, config.threads)
    bundle = create_model(EMBEDDED_MODEL, tokenizer_corpus(train_records), config.seed)
    examples = [
        encode(bundle.tokenizer, m, v) for m, v in guard_examples(train_records, config.seed)
    ]
    metrics = train(bundle, [], config, examples=examples)
    held_out = guard_examples(records_by_split.get("test", []), config.seed + 1)
    metrics.update(accuracy(bundle, held_out))
    host = json.dumps(training_host(config.threads), indent=2, sort_keys=True) + "\n"
    save_for_serving(bundle, out_dir, extra_files={"training_host.json": host})
    return metrics


def accuracy(bundle: Any, examples: list[tuple[list[dict[str, str]], str]]) -> dict[str, float]:
    """Greedy verdicts on (conversation, verdict) pairs: the share of exact verdicts, and the
    recall of `unsafe` and of `safe` (most conversations are safe: always answering `safe`
    scores high on plain accuracy and 0 on unsafe recall)."""
    import torch

    tokenizer, model = bundle.tokenizer, bundle.model
    exact = 0
    right = {True: 0, False: 0}
    total = {True: 0, False: 0}
    with torch.no_grad():
        for messages, want in examples:
            prompt = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            out = model.generate(
                ids,
                max_new_tokens=MAX_VERDICT_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            got = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
            exact += got.strip() == want
            safe = want == SAFE
            total[safe] += 1
            with contextlib.suppress(VerdictError):  # an answer not in the format is wrong
                right[safe] += parse_verdict(got).safe == safe
    unsafe_recall = right[False] / max(1, total[False])
    safe_recall = right[True] / max(1, total[True])
    return {
        "guard_exact": exact / max(1, len(examples)),
        "guard_unsafe_recall": unsafe_recall,
        "guard_safe_recall": safe_recall,
        "guard_balanced_accuracy": (unsafe_recall + safe_recall) / 2,
        "guard_cases": float(len(examples)),
    }
