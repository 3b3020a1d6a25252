"""Leakage between the goldens and the training data, checked on every eval.

An eval set written next to the training data measures memorised phrasing, not the task: a
golden that repeats (or nearly repeats) a training message is scored on recall. Each golden is
compared with every message of every training data file, on three kinds of leak:

- `exact`: the golden's input equals a training message (surrounding whitespace ignored);
- `normalised`: equal as word sequences after the task's normalisation (`task.normalise_text`:
  case, spacing and Unicode form) with punctuation dropped, e.g. `Where is my order?` and
  `where is my order`;
- `near_duplicate`: the **containment** of the golden in one training message, the share of
  the golden's distinct word n-grams (n = `ngram`, 3 by default) that occur in that message,
  is at least `near_duplicate` (0.5 by default). Containment, not Jaccard similarity: the
  training data wraps its phrases in greetings and sign-offs ("Hey there, ... thanks"), which
  would dilute a Jaccard score while the golden's own phrasing is copied whole. A golden with
  fewer than n words has no n-grams and is checked for the first two kinds only.

Each golden counts once, under its strongest kind. The thresholds are `eval.leakage` in
policies/gates.yaml; the report (in the run manifest) gives per dataset the count of each kind
and the closest goldens with their training message, and `leakage_checks` gates on it.

The training data is every `*.jsonl` file in the folder the pipeline's dataset lives in
(`pipelines/generate_dataset.DEFAULT_OUT`, `pipelines/data/`): version 1 (`make train`) and
version 2 (`make train-candidate`), all splits (the test split's messages come from the same
templates as the training split's, so a copy of one is a near-copy of the other).

Pure Python: the training n-grams are indexed once (cached per file content), and each golden
only visits the messages it shares an n-gram with; about 0.3 s for 7,200 messages.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.evidence import sha256_file
from common.project import ROOT
from evals.checks import check as _check
from evals.goldens import Dataset
from pipelines import task
from pipelines.generate_dataset import DEFAULT_OUT
from policies.gates import EvalGates, LeakageGates, load_gates

TRAINING_DATA_DIR = DEFAULT_OUT.parent
KINDS = ("exact", "normalised", "near_duplicate")
MEASURE = "containment: share of the golden's distinct word n-grams found in one training message"
_WORD_RE = re.compile(r"\w+(?:['.]\w+)*")


class LeakageError(ValueError):
    """The training data cannot be read."""


def training_files(directory: Path = TRAINING_DATA_DIR) -> tuple[Path, ...]:
    """Every training data file the pipelines train on (`make train`, `make train-candidate`)."""
    return tuple(sorted(directory.glob("*.jsonl")))


def words(text: str) -> list[str]:
    return _WORD_RE.findall(task.normalise_text(text))


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class _Message:
    file: str
    line: int
    id: str
    text: str


@dataclass(frozen=True)
class TrainingIndex:
    """The training messages, looked up by exact text, by word key and by n-gram."""

    ngram: int
    files: tuple[dict[str, Any], ...]
    messages: tuple[_Message, ...]
    exact: dict[str, int]
    normalised: dict[str, int]
    postings: dict[tuple[str, ...], tuple[int, ...]]


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def build_index(files: tuple[Path, ...], ngram: int) -> TrainingIndex:
    keys = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _build_index(keys, ngram)


@lru_cache(maxsize=4)
def _build_index(keys: tuple[tuple[str, int, int], ...], ngram: int) -> TrainingIndex:
    messages: list[_Message] = []
    described = []
    for name, _, _ in keys:
        path = Path(name)
        shown = _display(path)
        count = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise LeakageError(f"{path}:{number}: not a training message ({error})") from error
            if not isinstance(text, str):
                raise LeakageError(f"{path}:{number}: 'text' is not a string")
            messages.append(_Message(shown, number, str(row.get("id", "")), text))
            count += 1
        described.append({"path": shown, "sha256": sha256_file(path), "messages": count})
    exact: dict[str, int] = {}
    normalised: dict[str, int] = {}
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, message in enumerate(messages):
        exact.setdefault(message.text.strip(), index)
        tokens = words(message.text)
        normalised.setdefault(" ".join(tokens), index)
        for gram in ngrams(tokens, ngram):
            postings[gram].append(index)
    return TrainingIndex(
        ngram=ngram,
        files=tuple(described),
        messages=tuple(messages),
        exact=exact,
        normalised=normalised,
        postings={gram: tuple(rows) for gram, rows in postings.items()},
    )


def closest(text: str, index: TrainingIndex) -> tuple[str | None, float, int | None]:
    """The strongest leak of one golden: (kind or None, containment, training message index)."""
    if (hit := index.exact.get(text.strip())) is not None:
        return "exact", 1.0, hit
    tokens = words(text)
    if tokens and (hit := index.normalised.get(" ".join(tokens))) is not None:
        return "normalised", 1.0, hit
    grams = ngrams(tokens, index.ngram)
    if not grams:
        return None, 0.0, None
    shared: Counter[int] = Counter()
    for gram in grams:
        shared.update(index.postings.get(gram, ()))
    if not shared:
        return None, 0.0, None
    # Most shared n-grams; the first message in file order on a tie, so the report is stable.
    best, count = min(shared.items(), key=lambda item: (-item[1], item[0]))
    return "near_duplicate", count / len(grams), best


def check_dataset(dataset: Dataset, index: TrainingIndex, settings: LeakageGates) -> dict:
    counts = dict.fromkeys(KINDS, 0)
    found = []
    for case in dataset.cases:
        kind, score, hit = closest(case.input, index)
        if kind == "near_duplicate" and score < settings.near_duplicate:
            kind = None
        if kind is not None:
            counts[kind] += 1
        if hit is not None:
            found.append((kind is not None, round(score, 4), case, index.messages[hit], kind))
    found.sort(key=lambda f: (not f[0], -f[1], f[2].id))
    return {
        "cases": len(dataset.cases),
        **counts,
        "leaking": sum(counts.values()),
        "max_score": max((f[1] for f in found), default=0.0),
        "closest": [
            {
                "id": case.id,
                "kind": kind,
                "score": score,
                "input": case.input,
                "training": {
                    "file": message.file,
                    "line": message.line,
                    "id": message.id,
                    "split": task.split_of(message.text),
                    "text": message.text,
                },
            }
            for _, score, case, message, kind in found[: settings.examples]
        ],
    }


def report(
    datasets: Any,
    settings: LeakageGates | None = None,
    files: tuple[Path, ...] | None = None,
) -> dict[str, Any]:
    """The leakage report for a suite (or any iterable of datasets), for the run manifest."""
    if settings is None:
        settings = load_gates().eval.leakage or LeakageGates()
    files = training_files() if files is None else files
    index = build_index(files, settings.ngram)
    cases = getattr(datasets, "datasets", datasets)
    return {
        "measure": MEASURE,
        "ngram": settings.ngram,
        "near_duplicate": settings.near_duplicate,
        "training_data": list(index.files),
        "datasets": {d.name: check_dataset(d, index, settings) for d in cases},
    }


def _examples(row: dict[str, Any], kind: str) -> str:
    listed = [
        f"{c['id']} ({c['score']:.2f}) ~ {c['training']['file']}:{c['training']['line']} "
        f"{c['training']['text'][:60]!r}"
        for c in row["closest"]
        if c["kind"] == kind
    ]
    return "; ".join(listed)


def leakage_checks(leakage: dict[str, Any] | None, gates: EvalGates) -> list[dict]:
    """Gate checks on a leakage report: per dataset and kind, the share of leaking goldens."""
    settings = gates.leakage
    if settings is None:
        return []
    if not leakage:
        return [
            _check(
                "leakage",
                "leakage",
                None,
                settings.max_share.model_dump(),
                False,
                "no leakage report in the summary's manifest; re-run the eval",
            )
        ]
    if (leakage.get("ngram"), leakage.get("near_duplicate")) != (
        settings.ngram,
        settings.near_duplicate,
    ):
        return [
            _check(
                "leakage",
                "leakage",
                None,
                {"ngram": settings.ngram, "near_duplicate": settings.near_duplicate},
                False,
                f"the report used ngram={leakage.get('ngram')}, near_duplicate="
                f"{leakage.get('near_duplicate')}; policies/gates.yaml says otherwise: re-run",
            )
        ]
    checks = []
    limits = settings.max_share.model_dump()
    for name, row in sorted(leakage["datasets"].items()):
        for kind in KINDS:
            share = row[kind] / row["cases"] if row["cases"] else 0.0
            passed = share <= limits[kind]
            note = f"{row[kind]} of {row['cases']} goldens"
            if row[kind]:
                note += f": {_examples(row, kind)}"
                if not passed:
                    note += "; reword them (evals/README.md, Leakage)"
            checks.append(
                _check(name, f"leakage_{kind}", round(share, 6), limits[kind], passed, note)
            )
    return checks
