"""The reference production traffic is compared with: the served model on held-out training data.

`make monitor-reference` sends the held-out `test` split of the training data (pipelines/task.py
`split_of`: never trained on) through the served prompt to the running server, reads those
requests back from the server's own log, and writes build/monitor/reference.json. So the
reference is traffic like the training data *and* the model's own answers to it, logged by
the same code path as production: the label, refusal and format signals compare the model with
itself (a model that is 60 % accurate would look drifted against the dataset's labels), and the
input signals compare production with what the model was trained for. Refresh it whenever a
new model is promoted. The training split gives the vocabulary the OOV rate is measured against.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.evidence import sha256_file, stamp, write_json
from evals.prompting import PromptError, load_prompt
from monitor.features import Template, Vocabulary
from monitor.jsonl import numbered
from monitor.logs import LoggedRequest, base_id, read_log
from monitor.traffic import send
from pipelines import task

SENTINEL = "\x00input\x00"
ROOT = Path(__file__).resolve().parent.parent
SUITE_FILE = ROOT / "evals" / "suite.yaml"
MIN_REFERENCE = 50


class ReferenceDataError(ValueError):
    """The reference cannot be built or used; the message says how to fix it."""


@dataclass(frozen=True)
class Reference:
    path: Path
    requests: list[LoggedRequest]
    template: Template
    meta: dict
    vocabulary: Vocabulary


def served_prompt() -> str:
    """The prompt clients send the model with: the eval suite's (evals/suite.yaml)."""
    return yaml.safe_load(SUITE_FILE.read_text())["prompt"]


def template_of(prompt_name: str) -> Template:
    prompt = load_prompt(prompt_name)
    rendered = string.Template(prompt.template).substitute(input=SENTINEL)
    prefix, _, suffix = rendered.partition(SENTINEL)
    return Template(prefix, suffix)


def dataset_split(path: Path, split: str) -> list[str]:
    """The messages of one split of a training dataset (JSONL, a "text" field per line)."""
    texts = []
    try:
        for number, item, _ in numbered(path):
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise ReferenceDataError(f'{path} line {number}: needs a "text" field')
            if task.split_of(text) == split:
                texts.append(text)
    except FileNotFoundError:
        raise ReferenceDataError(
            f"no training data at {path}: give the dataset the served model was trained on "
            "(TRAINING_DATA=, default: DATASET in make/pipelines.mk)"
        ) from None
    return texts


def project_path(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


def build_reference(server: dict, training_data: Path, log: Path, out: Path) -> dict:
    """Send the held-out split through the server, read it back from its log, write `out`."""
    prompt = served_prompt()
    inputs = dataset_split(training_data, "test")
    if len(inputs) < MIN_REFERENCE:
        raise ReferenceDataError(
            f"{training_data}: {len(inputs)} held-out messages, the reference needs "
            f"{MIN_REFERENCE}; use a larger dataset"
        )
    ids = {
        base_id(i) for i in send(server["endpoint"], server["served_model_name"], prompt, inputs)
    }
    logged = [r for r in read_log(log).requests if base_id(r.request_id) in ids]
    if len(logged) < len(ids):
        raise ReferenceDataError(
            f"{log} holds {len(logged)} of the {len(ids)} reference requests: is request "
            "logging on (serving/serving.yaml logging.requests/outputs)?"
        )
    document = {
        "meta": {
            "prompt": prompt,
            "model_version": server.get("model_version", "unknown"),
            "model_dir": server.get("model_dir"),
            # Relative to the project when inside it: the monitor job runs on another machine.
            "training_data": project_path(training_data),
            "training_data_sha256": sha256_file(training_data),
            "split": "test",
        },
        "requests": [r.model_dump(mode="json") for r in logged],
        "stamp": stamp("monitor.reference"),
    }
    write_json(out, document)
    return document


def load_reference(path: Path) -> Reference:
    fix = "serve the model and run `make monitor-reference` (writes build/monitor/reference.json)"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceDataError(f"no reference at {path}: {fix}") from None
    except ValueError as error:
        raise ReferenceDataError(f"{path} is not valid JSON ({error}): {fix}") from None
    try:
        meta = document["meta"]
        requests = [LoggedRequest(**r) for r in document["requests"]]
        template = template_of(meta["prompt"])
        vocabulary = Vocabulary(dataset_split(ROOT / meta["training_data"], "train"))
    except (KeyError, TypeError, ValueError, PromptError) as error:
        raise ReferenceDataError(f"{path} cannot be used ({error}): {fix}") from None
    if len(requests) < MIN_REFERENCE:
        raise ReferenceDataError(f"{path} holds {len(requests)} requests: {fix}")
    return Reference(path, requests, template, meta, vocabulary)
