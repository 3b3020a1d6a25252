"""Model code: the embedded tiny Llama, the serving layout, LoRA on a base model, refusals."""

from __future__ import annotations

import json
import os

import pytest

from pipelines import modeling, task, training
from pipelines.training import TrainConfig, encode_example, load_for_eval, predict, train_model


def test_saved_model_has_the_layout_vllm_loads(tiny_model_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (tiny_model_dir / name).is_file(), name
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] == 128 and config["num_hidden_layers"] == 2
    # vLLM's CPU attention backend rejects head_dim 16; 64 works.
    assert config["hidden_size"] // config["num_attention_heads"] == 64 == config["head_dim"]
    generation = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == config["eos_token_id"]
    assert not list(tiny_model_dir.parent.glob(".model.*")), "temporary directory left behind"


def test_chat_template_round_trips_through_the_saved_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tokenizer.apply_chat_template(
        task.build_messages("where is my order"), tokenize=False, add_generation_prompt=True
    )
    assert text == (
        f"<|system|>{task.SYSTEM_PROMPT}<|end|><|user|>where is my order<|end|><|assistant|>"
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|assistant|>") == ids[-1]
    assert tokenizer.decode(tokenizer("héllo wörld ✓")["input_ids"]) == "héllo wörld ✓"


def test_loss_covers_only_the_answer(tiny_model_dir):
    tokenizer = load_for_eval(tiny_model_dir).tokenizer
    ids, labels = encode_example(tokenizer, "refund please", "refund", system_prompt=False)
    answer = [t for t in labels if t != -100]
    assert tokenizer.decode(answer) == "intent: refund<|end|>"
    assert labels[: len(ids) - len(answer)] == [-100] * (len(ids) - len(answer))


def test_training_is_deterministic(tmp_path, small_splits):
    config = TrainConfig(steps=4, batch_size=8, seed=7)
    first = train_model(small_splits, config, tmp_path / "a", log=lambda _: None)
    second = train_model(small_splits, config, tmp_path / "b", log=lambda _: None)
    assert first["train_loss"] == second["train_loss"]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (
        tmp_path / "b" / "model.safetensors"
    ).read_bytes()


def test_empty_training_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="training split is empty"):
        train_model({"train": []}, TrainConfig(steps=1), tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("not a model", "unknown base model 'not a model'"),
        ("gs://", "not a gs://BUCKET/PATH URI"),
        ("nonexistent-org/nonexistent-model-xyz", "cannot be loaded"),
    ],
)
def test_unknown_base_model_is_refused(ref, message):
    with pytest.raises(modeling.BaseModelError, match=message):
        modeling.check_base_model(ref)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(modeling.BaseModelError, match=r"has no config\.json"):
        modeling.check_base_model(str(tmp_path))


def test_unloadable_base_model_is_refused_before_training(tmp_path, small_splits):
    config = TrainConfig(base_model="nonexistent-org/nonexistent-model-xyz", steps=1)
    with pytest.raises(modeling.BaseModelError, match="cannot be loaded"):
        train_model(small_splits, config, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_base_model_is_fine_tuned_with_lora_and_merged(tmp_path, tiny_model_dir, small_splits):
    """A saved model stands in for a real base model: the same LoRA path a HF id takes."""
    from safetensors import safe_open

    config = TrainConfig(base_model=str(tiny_model_dir), steps=3, batch_size=8)
    out = tmp_path / "lora"
    train_model(small_splits, config, out, log=lambda _: None)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert names and not any("lora" in n for n in names), "adapters must be merged"
    base = json.loads((tiny_model_dir / "config.json").read_text())
    assert json.loads((out / "config.json").read_text())["hidden_size"] == base["hidden_size"]
    answers = predict(load_for_eval(out), ["where is my order"])
    assert len(answers) == 1 and isinstance(answers[0], str)


def test_every_answer_fits_the_answer_token_budget(tiny_model_dir):
    tokenizer = load_for_eval(tiny_model_dir).tokenizer
    for label in task.LABELS:
        ids = tokenizer(task.format_answer(label) + tokenizer.eos_token, add_special_tokens=False)
        assert len(ids["input_ids"]) <= task.MAX_ANSWER_TOKENS, label


def test_kernels_are_pinned_only_where_the_cpu_has_avx2(monkeypatch):
    for name in training.CPU_KERNEL_PINS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(training, "_cpu_model_and_flags", lambda: ("arm", ["asimd"]))
    assert not training.pin_cpu_kernels()
    assert not any(name in os.environ for name in training.CPU_KERNEL_PINS)
    monkeypatch.setattr(training, "_cpu_model_and_flags", lambda: ("x86", ["avx2", "avx512f"]))
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")  # what the user exported wins
    assert training.pin_cpu_kernels()
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and os.environ["MKL_CBWR"] == "COMPATIBLE"


def test_a_saved_model_records_the_host_it_was_trained_on(tiny_model_dir):
    host = training.read_training_host(tiny_model_dir)
    assert host and host["threads"] == 1 and host["cpu"] and host["torch"]
    assert host["kernels"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256")
    assert training.read_training_host(tiny_model_dir.parent) is None  # no record, no guess
