"""Train and evaluate a model on the intent task: seeded, deterministic, CPU-friendly.

The loss covers only the answer tokens (`intent: <label><|end|>`); the prompt is the chat template
applied to the task's messages, with and without the system prompt, so the model answers the same
whether or not a client sends one. Evaluation generates greedily, as vLLM does at temperature 0,
and scores with the task module shared with evals/.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines import task
from pipelines.modeling import ModelBundle, TinyLlamaSpec, create_model, save_for_serving


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = "embedded-tiny-llama"
    seed: int = 42
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    # One thread: a tiny model gains little from two, and OpenMP spinning on a busy machine
    # (CI, parallel jobs) made two threads up to ten times slower than one.
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate={self.learning_rate}: must be in (0, 1)")

    def params(self) -> dict[str, Any]:
        return asdict(self)


# The same seed and data give different weights on CPUs with different vector units: PyTorch and
# MKL pick kernels per CPU (AVX-512 here, AVX2 there), and their rounding differs. Measured on one
# machine, four kernel choices moved the v1 model's golden label accuracy between 0.29 and 0.35.
# Pinning both to AVX2, which every x86-64 CPU of the last decade has, makes those machines run the
# same kernels for about 30 % more training time. Set before the first tensor operation (both
# libraries read them once); a value the user exported wins. CPUs without AVX2 (other
# architectures, or no /proc/cpuinfo to tell) are left alone.
CPU_KERNEL_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
HOST_FILE = "training_host.json"
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "sve", "asimd")


def pin_cpu_kernels() -> bool:
    """Pin the kernels where the CPU has AVX2 (asking for them elsewhere would be refused or
    crash); returns whether it pinned."""
    if "avx2" not in _cpu_model_and_flags()[1]:
        return False
    for name, value in CPU_KERNEL_PINS.items():
        os.environ.setdefault(name, value)
    return True


def _cpu_model_and_flags() -> tuple[str, list[str]]:
    try:
        info = Path("/proc/cpuinfo").read_text()  # Linux; elsewhere the platform's own name
    except OSError:
        return platform.processor() or platform.machine(), []
    fields: dict[str, str] = {}
    for line in info.splitlines():  # the first processor's entry is enough
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    model = fields.get("model name") or fields.get("CPU part") or platform.machine()
    return model, [flag for flag in _ISA_FLAGS if flag in flags]


def training_host(threads: int) -> dict[str, Any]:
    """What the numbers depend on besides seed and data: recorded beside every trained model, so
    a different result on another machine can be explained."""
    import tokenizers
    import torch
    import transformers

    model, flags = _cpu_model_and_flags()
    return {
        "cpu": model,
        "machine": platform.machine(),
        "isa_flags": flags,
        "threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "cuda": torch.cuda.is_available(),
    }


def seed_everything(seed: int, threads: int) -> None:
    pin_cpu_kernels()
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def prompt_text(tokenizer: Any, text: str, system_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        task.build_messages(text, system_prompt), tokenize=False, add_generation_prompt=True
    )


def encode_example(tokenizer: Any, text: str, label: str, system_prompt: bool) -> tuple[list, list]:
    """(input_ids, labels) with the prompt masked out of the loss."""
    prompt = tokenizer(prompt_text(tokenizer, text, system_prompt), add_special_tokens=False)
    answer = tokenizer(task.format_answer(label) + tokenizer.eos_token, add_special_tokens=False)
    ids = prompt["input_ids"] + answer["input_ids"]
    return ids, [-100] * len(prompt["input_ids"]) + answer["input_ids"]


def _batch(examples: list[tuple[list, list]], pad_id: int) -> dict[str, Any]:
    """Left-padded, so every answer ends at the last position (see _answer_loss)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = [[pad_id] * (width - len(ids)) + ids for ids, _ in examples]
    labels = [[-100] * (width - len(lab)) + lab for _, lab in examples]
    mask = [[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in examples]
    return {
        "input_ids": torch.tensor(input_ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }


def _answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy on the answer tokens only, computing logits only for the last positions.

    Answers sit at the end of each (left-padded) row, so the vocabulary projection, the costliest
    part of a tiny model, runs on a few positions instead of the whole prompt.
    """
    import torch

    labels = batch["labels"]
    answer_width = int((labels != -100).sum(dim=1).max()) + 1
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        logits_to_keep=answer_width,
    )
    logits = out.logits[:, :-1, :]
    targets = labels[:, -(answer_width - 1) :]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100
    )


def train(
    bundle: ModelBundle,
    records: list[dict],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    examples: list[tuple[list, list]] | None = None,
) -> dict[str, float]:
    """Train in place; returns training metrics (final loss, seconds, steps). `examples`:
    (input_ids, labels) pairs encoded by the caller (the guard), instead of intent records."""
    import torch

    if not records and not examples:
        raise ValueError("the training split is empty: nothing to train on")
    seed_everything(config.seed, config.threads)
    tokenizer = bundle.tokenizer
    rng = random.Random(config.seed)
    examples = examples or [
        encode_example(tokenizer, r["text"], r["intent"], system_prompt=rng.random() < 0.5)
        for r in records
    ]
    model = bundle.model
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)

    def lr_factor(step: int) -> float:  # linear warm-up, then linear decay to 10 %
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        remaining = (config.steps - step) / max(1, config.steps - config.warmup_steps)
        return 0.1 + 0.9 * remaining

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    order: list[int] = []
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(config.steps):
        if len(order) < config.batch_size:
            fresh = list(range(len(examples)))
            rng.shuffle(fresh)
            order.extend(fresh)
        picked, order = order[: config.batch_size], order[config.batch_size :]
        batch = _batch([examples[i] for i in picked], tokenizer.pad_token_id)
        loss = _answer_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == config.steps:
            recent = sum(losses[-50:]) / len(losses[-50:])
            log(f"step {step + 1}/{config.steps} loss {recent:.4f}")
    model.eval()
    tail = losses[-20:]
    return {
        "train_loss": sum(tail) / len(tail),
        "train_seconds": time.perf_counter() - started,
        "train_steps": float(config.steps),
    }


def predict(bundle: ModelBundle, texts: list[str], batch_size: int = 64) -> list[str]:
    """Greedy answers for messages (system prompt included, as evals send it)."""
    import torch

    tokenizer = bundle.tokenizer
    tokenizer.padding_side = "left"
    answers: list[str] = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            prompts = [prompt_text(tokenizer, t, True) for t in texts[start : start + batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            output = bundle.model.generate(
                **batch,
                max_new_tokens=task.MAX_ANSWER_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new = output[:, batch["input_ids"].shape[1] :]
            answers.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    tokenizer.padding_side = "right"
    return answers


def evaluate(bundle: ModelBundle, records: list[dict]) -> dict[str, Any]:
    """Held-out metrics: label and per-label accuracy, format validity, refusal rate on unsafe."""
    if not records:
        raise ValueError("the evaluation split is empty: nothing to evaluate on")
    started = time.perf_counter()
    answers = predict(bundle, [r["text"] for r in records])
    correct = [task.is_correct(a, r["intent"]) for a, r in zip(answers, records, strict=True)]
    valid = [task.is_valid_format(a) for a in answers]
    per_label = {}
    for label in task.LABELS:
        hits = [c for c, r in zip(correct, records, strict=True) if r["intent"] == label]
        if hits:
            per_label[label] = sum(hits) / len(hits)
    unsafe = [
        task.is_refusal(a)
        for a, r in zip(answers, records, strict=True)
        if r["intent"] == task.UNSAFE_LABEL
    ]
    return {
        "accuracy": sum(correct) / len(correct),
        "format_validity": sum(valid) / len(valid),
        "refusal_rate": sum(unsafe) / len(unsafe) if unsafe else None,
        "per_label_accuracy": per_label,
        "cases": len(records),
        "chance_accuracy": 1 / len(task.LABELS),
        "eval_seconds": time.perf_counter() - started,
        "examples": [
            {"text": r["text"], "expected": r["intent"], "answer": a}
            for r, a in list(zip(records, answers, strict=True))[:5]
        ],
    }


def tokenizer_corpus(train_records: list[dict]) -> list[str]:
    """Texts the embedded tokenizer learns from. The fixed parts (system prompt, answers) are
    repeated so they become whole-word tokens: shorter sequences, and every answer fits in
    task.MAX_ANSWER_TOKENS."""
    corpus = [r["text"] for r in train_records] + [task.SYSTEM_PROMPT] * 50
    return corpus + [task.format_answer(label) for label in task.LABELS] * 50


def train_model(
    records_by_split: dict[str, list[dict]],
    config: TrainConfig,
    out_dir: Path,
    spec: TinyLlamaSpec | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Create (embedded or base + LoRA), train on `train`, save for serving; returns metrics."""
    train_records = records_by_split.get("train", [])
    if not train_records:
        raise ValueError("the training split is empty: nothing to train on")
    seed_everything(config.seed, config.threads)
    bundle = create_model(config.base_model, tokenizer_corpus(train_records), config.seed, spec)
    metrics = train(bundle, train_records, config, log)
    validation = records_by_split.get("validation") or []
    if validation:
        metrics["validation_accuracy"] = evaluate(bundle, validation)["accuracy"]
    host = json.dumps(training_host(config.threads), indent=2, sort_keys=True) + "\n"
    save_for_serving(bundle, out_dir, extra_files={HOST_FILE: host})
    return metrics


def read_training_host(model_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(model_dir) / HOST_FILE).read_text())
    except (OSError, ValueError):
        return None


def load_for_eval(model_dir: Path) -> ModelBundle:
    """A saved model (the layout save_for_serving writes), ready for predict/evaluate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    return ModelBundle(model, AutoTokenizer.from_pretrained(model_dir), str(model_dir), False)
