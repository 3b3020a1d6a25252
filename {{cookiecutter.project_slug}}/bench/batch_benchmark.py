"""Batch (vllm.LLM, `make batch`) against the online server (`make serve`) on the same prompts.

    python bench/batch_benchmark.py [--model build/test-model|champion|<version>]
                                    [--requests 512] [--concurrency 16] [--max-tokens 16]

Run with the serving env's Python (`make bench-batch` does). The prompts are the first `requests`
messages of the default dataset, sent as bare inputs with greedy decoding, so both sides do the
same work. Online: a server named `bench-batch` started through serving.local (the code path of
`make serve`), `concurrency` requests in flight, timed from the first request to the last answer.
Batch: pipelines.batch.batch_step (what the KFP component runs), timed around LLM.chat. Engine
start-up is reported apart for both. Prints requests/s and tokens/s side by side, how many answers
agree, and writes build/bench/batch_benchmark.json. Figures are for vLLM's CPU build on this
machine, not for a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.evidence import stamp, write_json  # noqa: E402
from pipelines import batch  # noqa: E402
from pipelines.generate_dataset import DEFAULT_OUT as DATASET  # noqa: E402
from serving import local  # noqa: E402


def one_request(server: dict, text: str, max_tokens: int) -> tuple[str, int, int]:
    body = {
        "model": server["served_model_name"],
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{server['endpoint']}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.loads(response.read())
    usage = answer["usage"]
    return (
        answer["choices"][0]["message"]["content"],
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def online(model: str, texts: list[str], concurrency: int, max_tokens: int) -> dict:
    started = time.perf_counter()
    server = local.start(model, "bench-batch", None, None)
    start_seconds = time.perf_counter() - started
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda t: one_request(server, t, max_tokens), texts))
        seconds = time.perf_counter() - started
    finally:
        local.stop("bench-batch")
    return {
        "answers": [r[0] for r in results],
        "start_seconds": start_seconds,
        "seconds": seconds,
        "prompt_tokens": sum(r[1] for r in results),
        "completion_tokens": sum(r[2] for r in results),
    }


def offline(model: str, texts: list[str], max_tokens: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "in.jsonl"
        source.write_text("".join(json.dumps({"input": t}) + "\n" for t in texts))
        summary = batch.batch_step(str(source), f"{scratch}/out", model, max_tokens)
        rows = (Path(scratch) / "out" / batch.PREDICTIONS).read_text().splitlines()
    return {
        "answers": [json.loads(row)["output"] for row in rows],
        "start_seconds": summary["engine"]["start_seconds"],
        "seconds": summary["throughput"]["seconds"],
        "prompt_tokens": summary["counts"]["prompt_tokens"],
        "completion_tokens": summary["counts"]["completion_tokens"],
    }


def rates(result: dict, requests: int) -> dict:
    seconds = result["seconds"]
    return {
        "requests": requests,
        "start_seconds": round(result["start_seconds"], 1),
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / seconds, 1),
        "output_tokens_per_s": round(result["completion_tokens"] / seconds, 1),
        "total_tokens_per_s": round(
            (result["prompt_tokens"] + result["completion_tokens"]) / seconds, 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "test-model"))
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    texts = [json.loads(line)["text"] for line in DATASET.read_text().splitlines()]
    texts = texts[: args.requests]
    # Online first: the server is stopped before the offline engine starts (one engine at a time).
    served = online(args.model, texts, args.concurrency, args.max_tokens)
    scored = offline(args.model, texts, args.max_tokens)
    same = sum(a == b for a, b in zip(served["answers"], scored["answers"], strict=True))
    report = {
        "stamp": stamp("bench/batch_benchmark.py", model=args.model),
        "prompts": {"source": str(DATASET.relative_to(ROOT)), "count": len(texts)},
        "max_tokens": args.max_tokens,
        "online": {**rates(served, len(texts)), "concurrency": args.concurrency},
        "batch": rates(scored, len(texts)),
        "same_answers": same,
    }
    write_json(ROOT / "build" / "bench" / "batch_benchmark.json", report)
    print(f"{len(texts)} prompts, max_tokens {args.max_tokens}, greedy (vLLM CPU, this machine)")
    online_label = f"online, {args.concurrency} in flight"
    print(f"{'':24}{online_label:>22}{'batch (vllm.LLM)':>20}")
    for key in ("requests_per_s", "output_tokens_per_s", "total_tokens_per_s", "seconds"):
        print(f"{key:24}{report['online'][key]:>22}{report['batch'][key]:>20}")
    print(
        f"{'engine start (s)':24}{report['online']['start_seconds']:>22}"
        f"{report['batch']['start_seconds']:>20}"
    )
    print(f"same answers: {same}/{len(texts)}; evidence: build/bench/batch_benchmark.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
