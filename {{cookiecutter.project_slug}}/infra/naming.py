"""Resource names: each starts with the project slug and the environment, within GCP limits."""

from __future__ import annotations

VOWELS = set("aeiou")


def env_short(environment: str) -> str:
    """Three letters for names with little room: the name itself when short, else its first
    letter and next two consonants (staging -> stg, prod -> prd, sandbox -> snd)."""
    if len(environment) <= 3:
        return environment
    consonants = [c for c in environment[1:] if c not in VOWELS]
    return environment[0] + "".join(consonants[:2]) if len(consonants) >= 2 else environment[:3]


def fit(prefix: str, suffix: str, limit: int) -> str:
    """`prefix-suffix`, shortening the prefix (never the suffix) to stay within `limit` chars."""
    room = limit - len(suffix) - 1
    if room < 1:
        raise ValueError(f"name suffix {suffix!r} leaves no room for a prefix within {limit} chars")
    return f"{prefix[:room].rstrip('-')}-{suffix}"


def bucket_name(project_id: str, slug: str, environment: str, purpose: str) -> str:
    """Globally unique bucket name (<= 63 chars): project id, slug, environment, purpose."""
    return fit(f"{project_id}-{slug}", f"{env_short(environment)}-{purpose}", 63)
