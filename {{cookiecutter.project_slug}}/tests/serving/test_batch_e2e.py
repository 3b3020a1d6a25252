"""`make batch` end to end: the KFP local runner runs the batch component, which scores with the
real vllm.LLM (CPU build) on the model the pipeline code trains; its greedy answers equal the
online server's (`make serve`, the shared vllm_server fixture) on the same messages.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from common.model_digest import model_digest
from pipelines import batch, task
from pipelines.generate_dataset import DEFAULT_OUT as DATASET
from tests.conftest import make

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ROW_KEYS = {"id", "line", "input", "output", "finish_reason", "prompt_tokens", "completion_tokens"}


def chat(server: dict, messages: list[dict], max_tokens: int) -> dict:
    body = {
        "model": server["served_model_name"],
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{server['endpoint']}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_make_batch_scores_like_the_online_server(tmp_path, trained_model_dir, vllm_server):
    texts = [json.loads(line)["text"] for line in DATASET.read_text().splitlines()[:16]]
    rows = [
        # Every fourth line a chat with the system prompt, the rest bare inputs; half with ids.
        {"messages": task.build_messages(text)} if n % 4 == 0 else {"input": text}
        for n, text in enumerate(texts)
    ]
    for n, row in enumerate(rows[:8]):
        row["id"] = f"q{n}"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    make("batch", f"INPUT={source}", f"OUTPUT={out}", f"MODEL={trained_model_dir}", timeout=1200)

    predictions = [json.loads(x) for x in (out / batch.PREDICTIONS).read_text().splitlines()]
    summary = json.loads((out / batch.SUMMARY).read_text())
    assert [p["id"] for p in predictions] == [f"q{n}" for n in range(8)] + list(range(9, 17))
    assert all(set(p) == ROW_KEYS for p in predictions)
    assert summary["stamp"]["model_digest"] == model_digest(trained_model_dir)
    assert summary["model"]["model_version"] == "local"
    assert summary["counts"]["requests"] == 16
    assert summary["counts"]["completion_tokens"] == sum(
        p["completion_tokens"] for p in predictions
    )
    assert summary["throughput"]["output_tokens_per_s"] > 0
    assert summary["decoding"]["temperature"] == 0 and summary["decoding"]["max_tokens"] == 16
    # Same chat template, engine arguments and decoding as the server: the same greedy answers.
    for prediction, row in zip(predictions, rows, strict=True):
        messages = row.get("messages") or [{"role": "user", "content": row["input"]}]
        online = chat(vllm_server, messages, max_tokens=16)
        choice = online["choices"][0]
        assert prediction["output"] == choice["message"]["content"], prediction
        assert prediction["finish_reason"] == choice["finish_reason"]
        assert prediction["prompt_tokens"] == online["usage"]["prompt_tokens"]
        assert prediction["completion_tokens"] == online["usage"]["completion_tokens"]
    # The model was trained on this task: answers are in the task's format.
    assert sum(task.is_valid_format(p["output"]) for p in predictions) >= 12


def test_a_prompt_longer_than_the_context_is_named_before_the_engine_starts(trained_model_dir):
    from serving.spec import load_spec

    max_model_len = load_spec().engine.max_model_len
    requests = batch.parse_requests(
        json.dumps({"input": "ok"}) + "\n" + json.dumps({"input": "word " * max_model_len}) + "\n"
    )
    with pytest.raises(batch.BatchInputError, match=r"line 2: the prompt is \d+ tokens"):
        batch.check_lengths(requests, trained_model_dir, max_model_len)
