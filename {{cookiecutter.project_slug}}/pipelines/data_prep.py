"""Load, validate and split a dataset; describe it in a data card.

A dataset is JSONL, one object per line: `{"id": str, "text": str, "intent": <label>}` plus an
optional `meta` object. It is either one file (split deterministically by a hash of the message,
see task.split_of) or a directory with `train.jsonl`, `validation.jsonl`, `test.jsonl` (already
split; then leakage between the files is checked). Local paths and gs:// URIs are accepted.
Every problem is reported with its file, line and field; nothing is written when any exists.
Standard library only (google-cloud-storage for gs://).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import task

REQUIRED = {"id": str, "text": str, "intent": str}
OPTIONAL = {"meta": dict}
SPLIT_NAMES = tuple(name for name, _ in task.SPLITS)
MAX_ID_CHARS = 128
MAX_ERRORS = 20


class DataError(ValueError):
    """The dataset cannot be used; the message lists every problem found (up to MAX_ERRORS)."""


@dataclass
class Prepared:
    splits: dict[str, list[dict]]
    card: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _read_gcs(uri: str) -> bytes:
    try:
        from google.cloud import storage
    except ImportError as error:
        raise DataError(f"{uri}: google-cloud-storage is needed to read gs:// data") from error
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    blob = storage.Client().bucket(bucket).blob(name)
    if not blob.exists():
        raise DataError(f"dataset file not found: {uri}")
    return blob.download_as_bytes()


def read_source(uri: str) -> dict[str, bytes]:
    """{file name: bytes}: one file, or the three split files of a directory."""
    is_dir = uri.endswith("/") if uri.startswith("gs://") else Path(uri).is_dir()
    names = [f"{s}.jsonl" for s in SPLIT_NAMES] if is_dir else [""]
    contents: dict[str, bytes] = {}
    for name in names:
        location = f"{uri.rstrip('/')}/{name}" if name else uri
        if uri.startswith("gs://"):
            contents[location] = _read_gcs(location)
        elif not Path(location).is_file():
            raise DataError(
                f"dataset file not found: {location}"
                + (" (a dataset directory needs train/validation/test .jsonl)" if name else "")
            )
        else:
            contents[location] = Path(location).read_bytes()
    return contents


def parse_records(source: str, data: bytes, errors: list[str]) -> list[tuple[int, dict]]:
    """(line number, record) for each valid line; problems appended to `errors`."""
    records: list[tuple[int, dict]] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        errors.append(f"{source}: not UTF-8 text ({error})")
        return records
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            errors.append(f"{where}: not valid JSON ({error.msg})")
            continue
        if not isinstance(record, dict):
            errors.append(f"{where}: expected a JSON object, got {type(record).__name__}")
            continue
        problems = _record_problems(record)
        errors.extend(f"{where}, field {p}" for p in problems)
        if not problems:
            records.append((number, record))
    return records


def _record_problems(record: dict) -> list[str]:
    problems = []
    for name, kind in REQUIRED.items():
        if name not in record:
            problems.append(f"'{name}': missing")
        elif not isinstance(record[name], kind):
            problems.append(
                f"'{name}': expected {kind.__name__}, got {type(record[name]).__name__}"
            )
        elif not record[name].strip():
            problems.append(f"'{name}': empty")
    for name in sorted(record.keys() - REQUIRED.keys() - OPTIONAL.keys()):
        problems.append(f"'{name}': unknown field (allowed: id, text, intent, meta)")
    if "meta" in record and not isinstance(record["meta"], dict):
        problems.append(f"'meta': expected object, got {type(record['meta']).__name__}")
    text, ident, intent = (record.get(k) for k in ("text", "id", "intent"))
    if isinstance(text, str) and len(text) > task.MAX_TEXT_CHARS:
        problems.append(f"'text': {len(text)} characters, at most {task.MAX_TEXT_CHARS}")
    if isinstance(ident, str) and len(ident) > MAX_ID_CHARS:
        problems.append(f"'id': {len(ident)} characters, at most {MAX_ID_CHARS}")
    if isinstance(intent, str) and intent.strip() and intent not in task.LABELS:
        problems.append(f"'intent': unknown label {intent!r} (labels: {', '.join(task.LABELS)})")
    return problems


def _check_duplicates(located: list[tuple[str, int, dict, str]], errors: list[str]) -> None:
    """Duplicate ids; the same message twice (duplicate, or conflicting label), and a message
    in two splits (leakage: the model would be tested on what it trained on)."""
    ids: dict[str, str] = {}
    texts: dict[str, tuple[str, str, str]] = {}
    for source, number, record, split in located:
        where = f"{source}:{number}"
        if record["id"] in ids:
            errors.append(f"{where}, field 'id': duplicate of {ids[record['id']]}")
        ids.setdefault(record["id"], where)
        key = task.normalise_text(record["text"])
        if key in texts:
            first, label, first_split = texts[key]
            kind = (
                "duplicate of" if label == record["intent"] else f"conflicting label {label!r} at"
            )
            leak = (
                f" (leaks between splits '{first_split}' and '{split}')"
                if split != first_split
                else ""
            )
            errors.append(f"{where}, field 'text': {kind} {first}{leak}")
        texts.setdefault(key, (where, record["intent"], split))


def prepare(uri: str) -> Prepared:
    """Validate and split the dataset at `uri`; raise DataError listing every problem."""
    contents = read_source(uri)
    errors: list[str] = []
    located: list[tuple[str, int, dict, str]] = []
    splits: dict[str, list[dict]] = {name: [] for name in SPLIT_NAMES}
    for source, data in contents.items():
        file_split = next((s for s in SPLIT_NAMES if source.endswith(f"/{s}.jsonl")), None)
        if len(contents) == 1:
            file_split = None
        for number, record in parse_records(source, data, errors):
            split = file_split or task.split_of(record["text"])
            located.append((source, number, record, split))
            splits[split].append(record)
    if not located and not errors:
        errors.append(f"{uri}: no records")
    _check_duplicates(located, errors)
    for name, records in splits.items():
        if located and not records:
            errors.append(f"split '{name}' is empty: every split needs records")
    if errors:
        shown = errors[:MAX_ERRORS]
        more = f"\n  ... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise DataError(
            f"dataset {uri} is invalid ({len(errors)} problems):\n  " + "\n  ".join(shown) + more
        )
    digest = hashlib.sha256()
    for source in sorted(contents):
        digest.update(contents[source])
    warnings = [
        f"split '{name}' has no '{label}' examples"
        for name, records in splits.items()
        for label in task.LABELS
        if not any(r["intent"] == label for r in records)
    ]
    card = data_card(uri, digest.hexdigest(), splits, warnings)
    return Prepared(splits, card, warnings)


def data_card(uri: str, sha256: str, splits: dict[str, list[dict]], warnings: list[str]) -> dict:
    return {
        "source": uri,
        "sha256": sha256,
        "task": "intent routing",
        "labels": list(task.LABELS),
        "answer_format": task.ANSWER_PREFIX + "<label>",
        "records": sum(len(r) for r in splits.values()),
        "splits": {
            name: {"records": len(records), "labels": dict(Counter(r["intent"] for r in records))}
            for name, records in splits.items()
        },
        "warnings": warnings,
    }


def write_prepared(prepared: Prepared, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in prepared.splits.items():
        lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
        (out_dir / f"{name}.jsonl").write_text(lines)
    (out_dir / "data_card.json").write_text(json.dumps(prepared.card, indent=2) + "\n")


def read_prepared(in_dir: Path) -> dict[str, list[dict]]:
    return {
        name: [json.loads(line) for line in (in_dir / f"{name}.jsonl").read_text().splitlines()]
        for name in SPLIT_NAMES
    }
