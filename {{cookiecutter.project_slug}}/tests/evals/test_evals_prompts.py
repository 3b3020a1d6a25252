"""Versioned prompts: rendering, train/serve consistency, hashes, and refused folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evals.prompting import PROMPTS_DIR, PromptError, load_prompt
from pipelines import task


def test_default_prompt_is_what_the_model_was_trained_on():
    prompt = load_prompt("intent-router")
    for text in ("where is my parcel", "Price is $5 {not a field} ${input}"):
        assert prompt.render(text) == task.build_messages(text)


def test_fewshot_prompt_renders_examples_as_turns():
    prompt = load_prompt("intent-router-fewshot")
    messages = prompt.render("my card was charged twice")
    assert messages[0]["role"] == "system" and "unsafe" in messages[0]["content"]
    roles = [m["role"] for m in messages[1:]]
    assert roles == ["user", "assistant"] * len(prompt.fewshot) + ["user"]
    assert messages[-1]["content"] == "Customer message:\nmy card was charged twice"
    assert all(task.is_valid_format(m["content"]) for m in messages if m["role"] == "assistant")


def _copy(tmp_path: Path, name: str = "intent-router-fewshot") -> Path:
    shutil.copytree(PROMPTS_DIR / name, tmp_path / name)
    return tmp_path / name


def test_hash_is_stable_and_follows_every_file(tmp_path: Path):
    folder = _copy(tmp_path)
    first = load_prompt(folder.name, tmp_path).sha256
    assert load_prompt(folder.name, tmp_path).sha256 == first == load_prompt(folder.name).sha256
    for name, edit in (("system.txt", "Be brief.\n"), ("user.txt", "\n"), ("fewshot.jsonl", "")):
        original = (folder / name).read_text()
        if name == "fewshot.jsonl":
            (folder / name).write_text(original.replace("twice", "two times"))
        else:
            (folder / name).write_text(original + edit)
        assert load_prompt(folder.name, tmp_path).sha256 != first, name
        (folder / name).write_text(original)
    assert load_prompt(folder.name, tmp_path).sha256 == first


def test_unknown_prompt_lists_the_known_ones():
    with pytest.raises(PromptError, match=r"unknown prompt 'nope'.*intent-router"):
        load_prompt("nope")


def test_template_without_input_is_refused(tmp_path: Path):
    folder = _copy(tmp_path)
    (folder / "user.txt").write_text("no placeholder here\n")
    with pytest.raises(PromptError, match="never uses"):
        load_prompt(folder.name, tmp_path)


def test_bad_fewshot_line_is_named(tmp_path: Path):
    folder = _copy(tmp_path)
    (folder / "fewshot.jsonl").write_text('{"input": "a", "output": "b"}\n{"input": "only"}\n')
    with pytest.raises(PromptError, match=r"fewshot.jsonl:2:"):
        load_prompt(folder.name, tmp_path)


def test_missing_file_is_named(tmp_path: Path):
    folder = _copy(tmp_path)
    (folder / "system.txt").unlink()
    with pytest.raises(PromptError, match=r"system\.txt is missing"):
        load_prompt(folder.name, tmp_path)
