"""Create the model to train and save it in the layout vLLM loads.

Two ways in, one way out:
- the embedded default (`embedded-tiny-llama`): a BPE tokenizer trained on the dataset and a tiny
  Llama built from config (weights cannot be downloaded here, and a 2-core CPU trains it in
  minutes);
- a real base model (Hugging Face id, `gs://` path or local directory): loaded, then wrapped with
  LoRA adapters (peft, imported only on this path) that are merged back before saving.

Needs torch, transformers and tokenizers only; no kfp, no MLflow.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMBEDDED_MODEL = "embedded-tiny-llama"
END = "<|end|>"
PAD = "<|pad|>"
BEGIN = "<|begin|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL_TOKENS = [PAD, BEGIN, END, *ROLE_TOKENS]
# Minimal chat template: `<|role|>content<|end|>` per message, then `<|assistant|>`.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class BaseModelError(ValueError):
    """The base model cannot be used: unknown form, not found, or not loadable."""


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Size of the embedded model. head_dim = hidden / heads = 64: vLLM's CPU attention backend
    rejects 16. 2048 positions (RoPE: no weights, so training is unchanged) let the model stand
    in as the LLM judge in tests, whose GEval prompt is about 1,100 of its tokens."""

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 2
    max_positions: int = 2048


@dataclass
class ModelBundle:
    model: Any
    tokenizer: Any
    base_model: str
    uses_lora: bool


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (any text encodes) with the chat template set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BEGIN,
        eos_token=END,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=TinyLlamaSpec.max_positions,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(tokenizer: Any, spec: TinyLlamaSpec, seed: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        head_dim=spec.hidden_size // spec.num_heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _download_gcs(uri: str) -> Path:
    """Copy a gs:// model prefix to a local cache directory (needs GCP credentials)."""
    try:
        from google.cloud import storage
    except ImportError as error:
        raise BaseModelError(f"base model {uri}: google-cloud-storage is not installed") from error
    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    target = Path(os.environ.get("MODEL_CACHE", tempfile.gettempdir())) / "base-models"
    target = target / bucket_name / prefix.strip("/")
    try:
        blobs = list(storage.Client().list_blobs(bucket_name, prefix=prefix.rstrip("/") + "/"))
    except Exception as error:
        raise BaseModelError(f"base model {uri}: cannot list the bucket: {error}") from error
    if not blobs:
        raise BaseModelError(f"base model {uri}: no files under this prefix")
    for blob in blobs:
        relative = blob.name[len(prefix.rstrip("/")) + 1 :]
        if relative and not relative.endswith("/"):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target / relative))
    return target


def locate_base_model(ref: str) -> str:
    """Check the form of a base-model reference and return what from_pretrained should load."""
    if ref.startswith("gs://"):
        if not re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/.+", ref):
            raise BaseModelError(f"base model {ref!r}: not a gs://BUCKET/PATH URI")
        return str(_download_gcs(ref))
    if Path(ref).is_dir():
        if not (Path(ref) / "config.json").exists():
            raise BaseModelError(f"base model directory {ref} has no config.json")
        return ref
    if _HF_ID.match(ref):
        return ref
    raise BaseModelError(
        f"unknown base model {ref!r}: expected {EMBEDDED_MODEL!r}, a Hugging Face id "
        "(org/name), a gs://bucket/path or a local model directory"
    )


def _load_error(ref: str, error: Exception) -> BaseModelError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = " (HF_HUB_OFFLINE=1: only models already in the local cache load)" if offline else ""
    return BaseModelError(
        f"base model {ref!r} cannot be loaded{hint}: {type(error).__name__}: {error}"
    )


def check_base_model(ref: str) -> str:
    """Refuse an unknown or unloadable base model before training starts (reads its config only)."""
    if ref == EMBEDDED_MODEL:
        return ref
    from transformers import AutoConfig

    source = locate_base_model(ref)
    try:
        AutoConfig.from_pretrained(source)
    except Exception as error:
        raise _load_error(ref, error) from error
    return source


def load_base_model(ref: str) -> ModelBundle:
    """A real base model with LoRA adapters attached (peft is imported only here)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = locate_base_model(ref)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype="float32")
    except Exception as error:
        raise _load_error(ref, error) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return ModelBundle(get_peft_model(model, lora), tokenizer, ref, uses_lora=True)


def create_model(
    base_model: str, corpus: list[str], seed: int, spec: TinyLlamaSpec | None = None
) -> ModelBundle:
    """The model to train: the embedded tiny Llama from scratch, or a real base model + LoRA."""
    if base_model == EMBEDDED_MODEL:
        spec = spec or TinyLlamaSpec()
        tokenizer = train_tokenizer(corpus, spec.vocab_size)
        return ModelBundle(build_tiny_llama(tokenizer, spec, seed), tokenizer, base_model, False)
    return load_base_model(base_model)


def save_for_serving(
    bundle: ModelBundle, out_dir: Path, extra_files: dict[str, str] | None = None
) -> Path:
    """config.json, model.safetensors, tokenizer files with the chat template, generation_config,
    and `extra_files` (name -> text, e.g. the training host record).

    Written to a sibling temp directory and renamed, so a crash never leaves a half model.
    """
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = bundle.model.merge_and_unload() if bundle.uses_lora else bundle.model
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        bundle.tokenizer.save_pretrained(tmp)
        GenerationConfig(
            bos_token_id=bundle.tokenizer.bos_token_id,
            eos_token_id=bundle.tokenizer.eos_token_id,
            pad_token_id=bundle.tokenizer.pad_token_id,
        ).save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        try:
            tmp.rename(out_dir)
        except OSError:  # Cloud Storage FUSE (/gcs on Vertex AI) may refuse directory renames
            shutil.copytree(tmp, out_dir)
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
