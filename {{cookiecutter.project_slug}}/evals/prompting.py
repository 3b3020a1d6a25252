"""Versioned prompts: a folder per prompt under evals/prompts/<name>/, identified by hash.

    prompt.yaml   name, version, description, and the files below
    system.txt    the system message
    user.txt      the user message template; `${input}` is the case's input (string.Template,
                  so braces in the text need no escaping)
    fewshot.jsonl optional worked examples, one {"input": ..., "output": ...} per line

The hash covers everything that reaches the model (system text, template, examples, name and
version), so any edit to a prompt changes the hash the run manifest and the cache key carry.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.evidence import sha256_text

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PLACEHOLDER = "${input}"


class PromptError(ValueError):
    """A prompt folder cannot be used."""


class _PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = Field(ge=1)
    description: str = ""
    system: str | None = None
    template: str
    fewshot: str | None = None


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    system: str
    template: str
    fewshot: tuple[tuple[str, str], ...]
    sha256: str

    def render(self, text: str) -> list[dict[str, str]]:
        """The chat messages for one input: system, the examples as turns, then the input."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        for example_input, example_output in self.fewshot:
            messages.append({"role": "user", "content": self._fill(example_input)})
            messages.append({"role": "assistant", "content": example_output})
        messages.append({"role": "user", "content": self._fill(text)})
        return messages

    def _fill(self, text: str) -> str:
        return string.Template(self.template).substitute(input=text)

    def manifest(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def _read(folder: Path, name: str) -> str:
    path = folder / name
    if not path.is_file():
        raise PromptError(f"prompt file {path} is missing (named in {folder / 'prompt.yaml'})")
    text = path.read_text(encoding="utf-8")
    # Editors add a final newline; it is not part of the message.
    return text[:-1] if text.endswith("\n") else text


def _read_fewshot(path: Path) -> tuple[tuple[str, str], ...]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append((str(row["input"]), str(row["output"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise PromptError(
                f"{path}:{number}: expected an object with `input` and `output` ({error})"
            ) from error
    return tuple(examples)


def load_prompt(name: str, prompts_dir: Path = PROMPTS_DIR) -> Prompt:
    folder = prompts_dir / name
    spec_path = folder / "prompt.yaml"
    if not spec_path.is_file():
        known = sorted(p.name for p in prompts_dir.iterdir() if (p / "prompt.yaml").is_file())
        raise PromptError(f"unknown prompt '{name}' (no {spec_path}); prompts: {', '.join(known)}")
    try:
        spec = _PromptFile.model_validate(yaml.safe_load(spec_path.read_text()))
    except (yaml.YAMLError, ValidationError) as error:
        raise PromptError(f"{spec_path} is invalid: {error}") from error
    if spec.name != name:
        raise PromptError(f"{spec_path}: name '{spec.name}' differs from its folder '{name}'")
    system = _read(folder, spec.system) if spec.system else ""
    template = _read(folder, spec.template)
    if "${input}" not in template and "$input" not in template:
        raise PromptError(f"{folder / spec.template}: the template never uses " + PLACEHOLDER)
    fewshot = _read_fewshot(folder / spec.fewshot) if spec.fewshot else ()
    try:
        string.Template(template).substitute(input="")
    except (KeyError, ValueError) as error:
        raise PromptError(
            f"{folder / spec.template}: bad placeholder {error}; use " + PLACEHOLDER
        ) from error
    identity = json.dumps(
        {
            "name": name,
            "version": spec.version,
            "system": system,
            "template": template,
            "fewshot": fewshot,
        },
        sort_keys=True,
    )
    return Prompt(name, spec.version, system, template, fewshot, sha256_text(identity))
