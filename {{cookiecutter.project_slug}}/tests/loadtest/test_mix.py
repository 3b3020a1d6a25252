"""Length profiles: the request mix's classes, output-length distributions, overrides, errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from loadtest.mix import Mix, output_length
from loadtest.profile import PROFILE_FILE, OutputTokens, ProfileError, load_profile
from loadtest.prompts import PromptSetError

N = 5000


def test_the_default_is_the_goldens_prompts_plus_long_generation() -> None:
    profile = load_profile()
    names = [c.name for c in profile.mix]
    assert names == ["goldens", "long-generation"]
    goldens, long = profile.mix
    assert goldens.prompts.name == "goldens.jsonl" and not goldens.output_tokens.forced
    assert long.output_tokens.forced and long.output_tokens.distribution == "lognormal"
    mix = Mix(profile)
    assert len(mix.prompts[0]) == 200 and len(mix.prompt_set_sha256()) == 64
    assert not profile.ignore_eos and profile.max_tokens == long.output_tokens.max


def test_classes_are_drawn_by_weight_and_the_draws_are_seeded() -> None:
    mix = Mix(load_profile())
    rng = random.Random(1)
    drawn = [mix.draw(rng) for _ in range(N)]
    share = sum(r.request_class == "long-generation" for r in drawn) / N
    assert share == pytest.approx(0.2, abs=0.03)  # 0.2 +- 5 standard errors
    assert all(r.ignore_eos == (r.request_class == "long-generation") for r in drawn)
    again = [Mix(load_profile()).draw(random.Random(1)) for _ in range(1)]
    assert again[0] == drawn[0]


def draws(spec: OutputTokens) -> list[int]:
    rng = random.Random(7)
    return [output_length(spec, rng) for _ in range(N)]


def test_natural_and_fixed_lengths_send_the_cap() -> None:
    assert set(draws(OutputTokens(distribution="natural", max=64))) == {64}
    fixed = OutputTokens(distribution="fixed", max=128)
    assert set(draws(fixed)) == {128} and fixed.forced


def test_uniform_lengths_cover_the_range() -> None:
    lengths = draws(OutputTokens(distribution="uniform", min=32, max=160))
    assert min(lengths) == 32 and max(lengths) == 160
    assert sum(lengths) / N == pytest.approx(96, rel=0.03)


def test_lognormal_lengths_have_the_median_and_stay_clipped() -> None:
    lengths = sorted(draws(OutputTokens(distribution="lognormal", median=96, sigma=0.4, min=32,
                                        max=160)))  # fmt: skip
    assert lengths[N // 2] == pytest.approx(96, rel=0.05)
    assert lengths[0] >= 32 and lengths[-1] == 160  # the tail above 160 is clipped


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"distribution": "lognormal", "median": 96, "max": 160, "min": 1}, "median, min, sigma"),
        ({"distribution": "uniform", "max": 10}, "max, min"),
        ({"distribution": "natural", "max": 64, "sigma": 1}, "exactly: max"),
        ({"distribution": "uniform", "min": 20, "max": 10}, "min 20 > max 10"),
        ({"distribution": "lognormal", "median": 500, "sigma": 1, "min": 1, "max": 10}, "median"),
        ({"distribution": "poisson", "max": 10}, "distribution"),
    ],
)
def test_bad_length_specs_are_refused_saying_what_to_write(
    tmp_path: Path, spec: dict, message: str
) -> None:
    raw = yaml.safe_load(PROFILE_FILE.read_text())
    raw["mix"][1]["output_tokens"] = spec
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw))
    (tmp_path / "goldens.jsonl").write_text((PROFILE_FILE.parent / "goldens.jsonl").read_text())
    with pytest.raises(ProfileError, match=message) as caught:
        load_profile(path)
    assert "mix.1.output_tokens" in str(caught.value)


def test_mix_errors_name_the_class(tmp_path: Path) -> None:
    raw = yaml.safe_load(PROFILE_FILE.read_text())
    raw["mix"][1]["name"] = "goldens"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProfileError, match="unique"):
        load_profile(path)
    raw["mix"] = []
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProfileError, match="mix"):
        load_profile(path)


def test_a_missing_prompt_file_is_refused_with_its_path(tmp_path: Path) -> None:
    raw = yaml.safe_load(PROFILE_FILE.read_text())
    raw["mix"][0]["prompts"] = "nowhere.jsonl"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PromptSetError, match=r"nowhere\.jsonl"):
        Mix(load_profile(path))


def test_command_line_overrides_reshape_the_mix(tmp_path: Path) -> None:
    # MAX_TOKENS=16: one class, the first class's prompts, natural answers capped at 16.
    (single,) = load_profile(max_tokens=16).mix
    assert single.output_tokens.model_dump(exclude_none=True) == {
        "distribution": "natural",
        "max": 16,
    }
    # IGNORE_EOS=1: natural answers are forced to their cap; forced ones stay as they are.
    forced = load_profile(ignore_eos=True)
    assert forced.ignore_eos and forced.mix[0].output_tokens.distribution == "fixed"
    assert forced.mix[1].output_tokens.distribution == "lognormal"
    # --prompts: every class asks from that file.
    other = tmp_path / "p.jsonl"
    assert {c.prompts for c in load_profile(prompts=other).mix} == {other}
    with pytest.raises(ProfileError, match="MAX_TOKENS=64"):
        load_profile(max_tokens=0)


def test_the_goldens_prompt_file_is_what_make_prompts_writes():
    """loadtest/goldens.jsonl is derived from the eval goldens: one fact, two files only while
    they agree (re-create with `python -m loadtest.make_prompts --goldens ...`)."""
    from loadtest.make_prompts import from_goldens

    root = PROFILE_FILE.parent.parent
    expected = from_goldens(root / "evals" / "datasets" / "regular.jsonl")
    lines = (PROFILE_FILE.parent / "goldens.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == expected, (
        "loadtest/goldens.jsonl is stale: python -m loadtest.make_prompts "
        "--goldens evals/datasets/regular.jsonl"
    )
