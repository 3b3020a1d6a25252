"""Response cache: one JSON file per (model identity, prompt, case, decoding).

A re-run of the same model on the same prompt and cases reads its answers from here, so it is
fast and gives byte-identical results (the recorded latency included). Anything that could
change an answer is in the key: the model's content digest where known (common/model_digest.py),
its version and root (a registry that is recreated numbers its versions from 1 again), the vLLM
version and the serving arguments. The endpoint URL is not, since the same model served
elsewhere answers the same. The LLM judge's scores are cached here too, under their own keys
(evals/judge.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.evidence import BUILD, sha256_text, write_atomic

CACHE_DIR = BUILD / "eval-cache"
KEY_VERSION = 3


def cache_key(
    model: dict[str, Any],
    prompt_sha256: str,
    case_id: str,
    case_sha256: str,
    decoding: dict[str, Any],
) -> str:
    """`model` is the target's identity (evals/client.py Target.identity: name, version,
    content digest, root, vLLM version and serving arguments)."""
    identity = {
        "v": KEY_VERSION,
        "model": model,
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
