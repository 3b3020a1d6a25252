"""JSON Lines files as the monitor reads them: every line numbered, blank lines skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def numbered(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed value, None) per non-blank line, or (number, None, what is wrong).

    Raises FileNotFoundError for a missing file: the caller says which file it wanted and why.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except ValueError as error:
            yield number, None, f"not JSON ({error.msg})"
