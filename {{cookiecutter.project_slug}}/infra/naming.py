"""Resource names: each starts with the project slug and the environment, within GCP limits."""

from __future__ import annotations

ENV_SHORT = {"dev": "dev", "staging": "stg", "prod": "prd"}


def fit(prefix: str, suffix: str, limit: int) -> str:
    """`prefix-suffix`, shortening the prefix (never the suffix) to stay within `limit` chars."""
    room = limit - len(suffix) - 1
    if room < 1:
        raise ValueError(f"name suffix {suffix!r} leaves no room for a prefix within {limit} chars")
    return f"{prefix[:room].rstrip('-')}-{suffix}"


def bucket_name(project_id: str, slug: str, environment: str, purpose: str) -> str:
    """Globally unique bucket name (<= 63 chars): project id, slug, environment, purpose."""
    return fit(f"{project_id}-{slug}", f"{ENV_SHORT[environment]}-{purpose}", 63)
