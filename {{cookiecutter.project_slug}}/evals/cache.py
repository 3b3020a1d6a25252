"""Response cache: one JSON file per (model identity and version, prompt, case, decoding).

A re-run of the same model on the same prompt and cases reads its answers from here, so it is
fast and gives byte-identical results (the recorded latency included). Anything that could
change an answer is in the key; the endpoint URL is not, since the same model version served
elsewhere answers the same. The model's root (the path the server loaded it from, in
/v1/models) is in the key too: a registry that is recreated numbers its versions from 1 again,
and version 2 of a new registry must not read version 2 of the old one's answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.evidence import BUILD, sha256_text, write_atomic

CACHE_DIR = BUILD / "eval-cache"
KEY_VERSION = 2


def cache_key(
    served_model_name: str,
    model_version: str,
    prompt_sha256: str,
    case_id: str,
    case_sha256: str,
    decoding: dict[str, Any],
    model_root: str = "",
) -> str:
    identity = {
        "v": KEY_VERSION,
        "model": served_model_name,
        "model_version": model_version,
        "model_root": model_root,
        "prompt": prompt_sha256,
        "case": case_id,
        "case_sha256": case_sha256,
        "decoding": decoding,
    }
    return sha256_text(json.dumps(identity, sort_keys=True))


class ResponseCache:
    def __init__(self, root: Path = CACHE_DIR, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            return json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            # Missing or torn entry: ask the model again.
            return None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if self.enabled:
            write_atomic(self.path(key), json.dumps(entry, sort_keys=True) + "\n")
