"""The prompt set and the load profile: committed files valid, bad ones refused by line/field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.profile import ProfileError, load_profile
from loadtest.prompts import PromptSetError, load_prompts


def test_committed_prompt_set_is_valid_and_hashed() -> None:
    prompts = load_prompts()
    assert len(prompts.prompts) >= 100 and len(prompts.sha256) == 64
    assert all(p["messages"][-1]["role"] == "user" for p in prompts.prompts)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"id": "a"}), "'messages' must be"),
        (json.dumps({"id": "a", "messages": [{"role": "robot", "content": "x"}]}), "role"),
        (json.dumps({"id": "a", "messages": [{"role": "system", "content": "x"}]}), "last"),
    ],
)
def test_bad_prompt_lines_are_refused_with_line_number(tmp_path: Path, line: str, message: str):
    good = json.dumps({"id": "ok", "messages": [{"role": "user", "content": "hi"}]})
    path = tmp_path / "p.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(PromptSetError, match=message) as caught:
        load_prompts(path)
    assert f"{path}:2" in str(caught.value)


def test_committed_profile_and_overrides() -> None:
    profile = load_profile(users=7, duration_s=None)
    assert profile.users == 7 and profile.duration_s > 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"users": 0}, "users"),
        ({"steps": [4, 2]}, "steps"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"rate": 0}, "rate"),
        ({"rate": "abc"}, "rate"),
    ],
)
def test_bad_profile_values_are_refused(override: dict, field: str) -> None:
    with pytest.raises(ProfileError, match=field):
        load_profile(**override)
