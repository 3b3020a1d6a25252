"""Local serving: start-up time of `make serve` and a short throughput figure.

    python bench/serve_benchmark.py [--model build/test-model|champion|<version>]
                                    [--concurrency 16] [--requests 64] [--max-tokens 64]

Run with the serving env's Python (`make bench-serve` does). Starts a server named `bench` through
serving.local (the same code path as `make serve`), times it until the first real completion,
sends `requests` chat completions with `concurrency` in flight (ignore_eos, so every answer has
exactly max-tokens tokens), prints requests/s and output tokens/s, and stops the server. Figures
are for vLLM's CPU build on this machine, not for a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import local  # noqa: E402

PROMPTS = [
    "I want to cancel my order",
    "where is my parcel?",
    "my card was charged twice",
    "how do I change my password",
]


def one_request(endpoint: str, model: str, prompt: str, max_tokens: int) -> int:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
    }
    request = urllib.request.Request(
        f"{endpoint}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return int(json.loads(response.read())["usage"]["completion_tokens"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "test-model"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    name = "bench"
    try:
        started = time.perf_counter()
        state = local.start(args.model, name, port=None, timeout_s=None)
        startup_s = time.perf_counter() - started
        endpoint, model = state["endpoint"], state["served_model_name"]
        one_request(endpoint, model, PROMPTS[0], args.max_tokens)  # warm-up, not timed
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            tokens = list(
                pool.map(lambda p: one_request(endpoint, model, p, args.max_tokens), prompts)
            )
        wall_s = time.perf_counter() - began
    except local.ServeError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return error.code
    finally:
        local.stop(name)
    print(f"model            {state['model_dir']} (version {state['model_version']})")
    print(
        f"start-up         {startup_s:.1f} s to the first real completion "
        f"(server's own count {state['startup_seconds']} s)"
    )
    print(
        f"throughput       {args.requests} requests x {args.max_tokens} tokens, "
        f"{args.concurrency} in flight: {wall_s:.2f} s"
    )
    print(
        f"                 {args.requests / wall_s:.1f} requests/s, "
        f"{sum(tokens) / wall_s:.0f} output tokens/s (vLLM CPU build, this machine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
