"""The controller's persisted state (build/canary/state.json): what a release pinned, and how far
it got.

Written atomically at every phase change, so a run that is killed outright (SIGKILL) still
leaves a record: `make canary-recover` or a re-run of the same tag reads it. The release
workflow keeps it with the GitHub Release of the tag (`make release-state-fetch` /
`make release-publish`), which is what makes a re-run of the tag idempotent.

    {"tag": "v1.2.3", "backend": "gke", "phase": "step", "weight": 50,
     "versions": {"stable": "3", "canary": "7"}, "decision": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.evidence import write_json

STATE_FILE = "state.json"

# The gate reached a verdict and it was applied: final for the tag.
DECIDED = "decided"
# The canary may be deployed or hold traffic: a re-run restores stable first.
UNFINISHED = frozenset({"warming", "step", "promoting", "rolling_back", "rollback_failed"})


def load(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def save(path: Path, record: dict[str, Any]) -> None:
    write_json(path, record)
