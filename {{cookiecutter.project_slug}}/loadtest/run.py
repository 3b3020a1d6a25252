"""`make load`: run the Locust test headless against an endpoint and gate it on the SLOs.

    python -m loadtest.run [--endpoint URL/v1] [--out build/load] [--users N] [--duration S]
                           [--rate R] [--workers N] [--steps 1,2,4,8] [--hardware TEXT]
    python -m loadtest.run --knee [--workers N] ...          (`make load-knee`)
    python -m loadtest.run --analyze DIR --users N --duration S --model NAME   (a GKE run)

Closed loop by default (`--users` requests in flight); `--rate` makes it open loop (Poisson
arrivals, loadtest/arrivals.py); `--workers N` runs Locust as a master and N worker processes
on this machine, samples merged by the master (loadtest/locustfile.py); `--knee` searches the
highest rate within the SLOs (loadtest/knee.py).
Writes OUT/summary.json, OUT/report.md and Locust's CSV/HTML (per step in OUT/users-N/, per
knee run in OUT/run-NN-rate-R/, with OUT/knee.json and OUT/knee.svg).
Exit codes: 0 SLOs met; 1 an SLO breached or the load generator saturated (results not valid);
2 no usable endpoint (dead, or answering errors) or bad input. Output appears all at once at
the end, so a failed or interrupted run never leaves a half-written summary behind.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import locust
import requests

from common.contracts import LoadSummary
from common.evidence import BUILD, ROOT, read_json, sha256_text, stamp, write_atomic, write_json
from loadtest import metrics, plot, report, server_metrics
from loadtest.knee import search
from loadtest.mix import Mix
from loadtest.profile import PROFILE_FILE, Profile, ProfileError, load_profile
from loadtest.prompts import PromptSetError
from policies.gates import GatesError, LoadGates, load_gates

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
DEFAULT_SERVER = BUILD / "serving" / "stable.json"


class UsageError(Exception):
    """Bad input or no usable endpoint (exit 2)."""


def resolve_target(endpoint: str | None, model: str | None) -> tuple[str, str | None]:
    """The endpoint (ending in /v1) and model; default: the local `stable` server."""
    if not endpoint:
        if not DEFAULT_SERVER.exists():
            raise UsageError(
                f"no ENDPOINT given and no local server record at {DEFAULT_SERVER}; "
                "start one with `make serve NAME=stable` or pass ENDPOINT=http://host:port/v1"
            )
        server = read_json(DEFAULT_SERVER, "local server record")
        endpoint, model = server["endpoint"], model or server.get("served_model_name")
    endpoint = endpoint.rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"ENDPOINT={endpoint!r} is not an http(s) URL like http://host:port/v1")
    return endpoint, model


def preflight(endpoint: str, model: str | None, prompt: dict) -> str:
    """Fail fast, before any load: the endpoint answers, serves the model and completes."""
    try:
        listing = requests.get(f"{endpoint}/models", timeout=10)
    except requests.RequestException as error:
        raise UsageError(
            f"endpoint {endpoint} is not reachable ({type(error).__name__}: {error}); "
            "is the server running? (`make serve NAME=stable`)"
        ) from error
    if listing.status_code != 200:
        raise UsageError(
            f"endpoint {endpoint} answered HTTP {listing.status_code} on /models: "
            f"{listing.text[:200]}"
        )
    served = [m.get("id") for m in listing.json().get("data", [])]
    if model is None:
        if not served:
            raise UsageError(f"endpoint {endpoint} serves no model")
        model = served[0]
    elif model not in served:
        raise UsageError(f"endpoint {endpoint} does not serve {model!r}; it serves {served}")
    probe = {"model": model, "messages": prompt["messages"], "max_tokens": 1}
    try:
        answer = requests.post(f"{endpoint}/chat/completions", json=probe, timeout=60)
    except requests.RequestException as error:
        raise UsageError(f"endpoint {endpoint} failed a probe completion: {error}") from error
    if answer.status_code != 200:
        raise UsageError(
            f"endpoint {endpoint} answers errors: a probe chat completion got HTTP "
            f"{answer.status_code}: {answer.text[:300]}"
        )
    return model


def hardware_of(endpoint: str) -> str:
    host = urllib.parse.urlparse(endpoint).hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        cpu = platform.processor() or platform.machine()
        return f"this machine's CPU ({cpu}, {os.cpu_count()} cores; vLLM CPU build)"
    return f"remote endpoint {host} (hardware not stated: pass HARDWARE=...)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_locust(
    endpoint: str,
    model: str,
    profile: Profile,
    users: int,
    duration: float,
    out: Path,
    options: dict[str, Any],
    rate: float | None = None,
    workers: int = 0,
) -> tuple[list[dict], list[dict], list[float]]:
    """One headless Locust run (one process, or a master and `workers` worker processes);
    returns its raw samples, dropped arrivals and CPU readings."""
    out.mkdir(parents=True, exist_ok=True)
    samples_file = out / "samples.jsonl"
    ours = {
        # Our own options (loadtest/locustfile.py), given to every process: a worker checks
        # --model at start-up, and the master hands it its own copy when the run starts.
        "--model": model,
        "--temperature": profile.temperature,
        "--seed": profile.seed,
        "--request-timeout": profile.request_timeout_s,
        "--arrival-rate": rate or 0,
        "--arrival-window": duration if rate else 0,
        **options,
    }
    master = {
        "--users": users,
        "--spawn-rate": profile.spawn_rate or users,
        "--run-time": f"{math.ceil(duration)}s",  # whole seconds: Locust refuses "7.5s"
        "--stop-timeout": f"{profile.stop_timeout_s:g}",
        "--host": endpoint,
        "--csv": out / "locust",
        "--html": out / "locust.html",
        "--loglevel": "WARNING",
        "--samples-out": samples_file,
        **ours,
    }
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    port = _free_port() if workers else 0
    command = [*locust, "--headless", "--only-summary"]
    if workers:
        command += ["--master", "--expect-workers", str(workers)]
        command += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    command += [str(x) for pair in master.items() for x in pair]
    worker_command = [*locust, "--worker", "--master-host", "127.0.0.1"]
    worker_command += ["--master-port", str(port), "--loglevel", "WARNING"]
    worker_command += [str(x) for pair in ours.items() for x in pair]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limit = duration + profile.stop_timeout_s + 120
    with (out / "locust.log").open("w") as log:
        started = [
            subprocess.Popen(worker_command, stdout=log, stderr=subprocess.STDOUT, env=env)
            for _ in range(workers)
        ]
        try:
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=limit, check=False
            )
            # Workers quit when the master does; give them a moment, then make sure.
            deadline = time.monotonic() + 30
            while any(w.poll() is None for w in started) and time.monotonic() < deadline:
                time.sleep(0.2)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"Locust did not finish within {limit:.0f} s") from error
        finally:
            for worker in started:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
                    log.write(
                        f"WARNING: worker {worker.pid} did not exit after the master; killed\n"
                    )
    # Locust exits 1 when any request failed: that is data, judged by the gate, not a crash.
    if done.returncode not in (0, 1) or not samples_file.exists():
        tail = (out / "locust.log").read_text()[-1500:]
        raise RuntimeError(f"Locust failed (exit {done.returncode}); log tail:\n{tail}")
    return read_samples(samples_file)


def read_samples(path: Path) -> tuple[list[dict], list[dict], list[float]]:
    """The locustfile's raw records: one per request, one per dropped arrival (open loop),
    and the generator's CPU readings."""
    samples, dropped, cpu = [], [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        kind = record.pop("kind")
        if kind == "request":
            samples.append(record)
        elif kind == "dropped":
            dropped.append(record)
        else:
            cpu.append(record["percent"])
    return samples, dropped, cpu


@dataclass
class Level:
    """One load level to run: closed loop (`rate` None) or open loop."""

    users: int
    duration: float
    rate: float | None = None
    warmup_s: float = 0.0


def evaluate(
    recorded: tuple[list[dict], list[dict], list[float]],
    server: dict[str, Any],
    profile: Profile,
    gates: LoadGates,
    level: Level,
) -> dict[str, Any]:
    """One load level's figures, SLO verdict and self-checks (warm-up excluded)."""
    samples, dropped, cpu = recorded
    if level.warmup_s and samples:
        start = min(metrics.due_at(r) for r in samples + dropped)
        samples = metrics.after_warmup(samples, start, level.warmup_s)
        dropped = metrics.after_warmup(dropped, start, level.warmup_s)
    open_loop = None
    if level.rate is not None:
        open_loop = {
            "rate": level.rate,
            "late_after_ms": profile.open_loop.late_after_ms,
            "dropped": dropped,
            "window_s": level.duration - level.warmup_s,
        }
    ignore_eos = metrics.ignore_eos_of(samples, profile.ignore_eos)
    result = metrics.summarize(samples, gates, ignore_eos, open_loop)
    result["gate"] = metrics.gate(result, gates)
    result["generator_cpu"] = metrics.cpu_verdict(
        cpu, profile.generator.cpu_warn_percent, profile.generator.cpu_fail_percent
    )
    result["server"] = server
    result["server_cross_check"] = server_metrics.cross_check(
        result["ttft_ms"], server, profile.ttft_tolerance
    )
    result["server_itl_cross_check"] = server_metrics.cross_check_itl(result["itl_ms"], server)
    result["users"] = level.users
    result["rate"] = level.rate
    result["duration_s"] = level.duration
    result["warmup_s"] = level.warmup_s
    return result


def run_level(
    endpoint: str,
    model: str,
    profile: Profile,
    gates: LoadGates,
    level: Level,
    out: Path,
    options: dict[str, Any],
    workers: int,
) -> dict[str, Any]:
    before = server_metrics.scrape(endpoint)
    recorded = run_locust(
        endpoint, model, profile, level.users, level.duration, out, options, level.rate, workers
    )
    server = server_metrics.server_view(before, server_metrics.scrape(endpoint), model)
    return evaluate(recorded, server, profile, gates, level)


def analyze(
    directory: Path, profile: Profile, gates: LoadGates, scratch: Path, rate: float | None
) -> list[dict[str, Any]]:
    """A run made elsewhere (distributed on GKE): its samples.jsonl and Locust files."""
    samples_file = directory / "samples.jsonl"
    if not samples_file.is_file():
        raise UsageError(f"no samples.jsonl in {directory} (copy /out from the Locust master)")
    shutil.copytree(directory, scratch, dirs_exist_ok=True)
    server = {"available": False, "reason": "analysed after the run; /metrics not scraped"}
    level = Level(profile.users, profile.duration_s, rate)
    return [evaluate(read_samples(samples_file), server, profile, gates, level)]


def passed_level(result: dict[str, Any]) -> bool:
    """Every SLO met, by a load generator that was not itself the bottleneck."""
    return result["gate"]["passed"] and result["generator_cpu"]["status"] != "saturated"


def _step_row(result: dict[str, Any]) -> dict[str, Any]:
    open_loop = result.get("open_loop") or {}
    return {
        "users": result["users"],
        "rate": result["rate"],
        "passed": passed_level(result),
        "failed": result["gate"]["failed"]
        + (["generator_cpu"] if result["generator_cpu"]["status"] == "saturated" else []),
        "requests": result["requests"],
        "sent_per_s": open_loop.get("sent_per_s"),
        "dropped_rate": open_loop.get("dropped_rate"),
        "queue_delay_p95_ms": (open_loop.get("queue_delay_ms") or {}).get("p95"),
        "requests_per_s": result["requests_per_s"],
        "output_tokens_per_s": result["output_tokens_per_s"],
        "total_tokens_per_s": result["total_tokens_per_s"],
        "goodput_requests_per_s": result["goodput"]["requests_per_s"],
        "goodput_tokens_per_s": result["goodput"]["output_tokens_per_s"],
        "ttft_p50_ms": result["ttft_ms"]["p50"],
        "ttft_p95_ms": result["ttft_ms"]["p95"],
        "itl_p50_ms": result["itl_ms"]["p50"],
        "itl_p95_ms": result["itl_ms"]["p95"],
        "tpot_p50_ms": result["tpot_ms"]["p50"],
        "e2e_p95_ms": result["e2e_ms"]["p95"],
        "generator_cpu": result["generator_cpu"]["status"],
    }


def warnings_of(result: dict[str, Any]) -> list[str]:
    found = []
    cpu = result["generator_cpu"]
    if cpu["status"] in ("warn", "saturated"):
        found.append(
            f"load generator CPU p95 {cpu['p95']:.0f} % of a core (mean {cpu['mean']:.0f} %): "
            "client timings drift; add Locust workers (loadtest/k8s) or lower the load"
        )
    check = result["server_cross_check"]
    if check["status"] == "warn":
        found.append(
            f"client TTFT mean {check['client_mean_ms']:.1f} ms vs server "
            f"{check['server_mean_ms']:.1f} ms (ratio {check['ratio']:.2f}): the client or the "
            "network adds latency"
        )
    itl = result["server_itl_cross_check"]
    if itl["status"] == "warn":
        found.append(
            f"client ITL mean {itl['client_mean_ms']:.2f} ms vs server "
            f"{itl['server_mean_ms']:.2f} ms (ratio {itl['ratio']:.2f}): the client's token "
            "timings do not match the engine's"
        )
    if result["requests"] and result["usage_reported_fraction"] < 1:
        found.append("the server did not report usage for every stream; tokens were counted")
    loop = result.get("open_loop")
    if loop and (loop["late_no_free_sender"] or loop["dropped"]):
        found.append(
            f"open loop: {loop['late_no_free_sender']} requests waited more than "
            f"{loop['late_after_ms']:g} ms for a free sender and {loop['dropped']} were dropped: "
            f"all {result['users']} users of the pool were busy (the server falls behind this "
            "rate; or raise USERS=)"
        )
    if loop and loop["late"] > loop["late_no_free_sender"] and loop["late_rate"] > 0.01:
        found.append(
            f"open loop: {loop['late'] - loop['late_no_free_sender']} requests left more than "
            f"{loop['late_after_ms']:g} ms after their arrival time with a sender free: the load "
            "generator woke late (a busy event loop, or, with its own CPU low, cores taken by "
            "the server or other processes)"
        )
    return found


def _steps(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(step) for step in text.split(",") if step.strip()]
    except ValueError:
        raise UsageError(f"STEPS={text!r}: comma-separated user counts, e.g. STEPS=1,2,4") from None


def _locust_options(args: argparse.Namespace) -> dict[str, Any]:
    """The locustfile builds its request mix from the same profile and overrides as we do."""
    options: dict[str, Any] = {"--load-profile": args.profile}
    if args.max_tokens is not None:
        options["--max-tokens"] = args.max_tokens
    if args.ignore_eos:
        options["--ignore-eos"] = "true"
    if args.prompts is not None:
        options["--prompts"] = args.prompts
    return options


def knee_duration(profile: Profile, gates: LoadGates, rate: float) -> float:
    """Warm-up plus a measurement long enough for min_requests at this rate (50 % spare), in
    whole seconds (Locust's --run-time)."""
    knee = profile.knee
    return math.ceil(knee.warmup_s + max(knee.measure_s, 1.5 * gates.min_requests / rate))


# Locust's start-up and stop around each run's duration, for the knee's time budget (measured
# here: 3-8 s).
RUN_OVERHEAD_S = 10
KNEE_WARMUP_S = 10


def run_knee(
    run: Any, profile: Profile, gates: LoadGates, users: int, scratch: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The knee search (loadtest/knee.py) over open-loop runs; every run's result, the knee."""
    results: list[dict[str, Any]] = []
    began = time.monotonic()
    # One unmeasured run first: a server's first requests after idle ran seconds slow (TTFT p95
    # 4-5 s at 2 req/s, seen twice here), which each run's own warm-up did not cover.
    rate = profile.knee.start_rate
    print(f"    warm-up: {rate:g} req/s for {KNEE_WARMUP_S} s, not measured ...", flush=True)
    run(Level(users, KNEE_WARMUP_S, rate), scratch / "warm-up")

    def measure(rate: float) -> bool:
        level = Level(users, knee_duration(profile, gates, rate), rate, profile.knee.warmup_s)
        where = scratch / f"run-{len(results) + 1:02d}-rate-{rate:g}"
        print(f"    {rate:g} req/s for {level.duration:g} s ({level.warmup_s:g} s warm-up) ...",
              flush=True)  # fmt: skip
        result = run(level, where)
        results.append(result)
        _print_level(result)
        return passed_level(result)

    knee = search(
        measure, profile.knee, lambda rate: knee_duration(profile, gates, rate) + RUN_OVERHEAD_S
    )
    found = {
        **knee.to_dict(),
        "elapsed_s": time.monotonic() - began,
        "rule": profile.knee.model_dump(),
    }
    return results, found


def _print_level(result: dict[str, Any]) -> None:
    where = f"{result['rate']:g} req/s" if result["rate"] else f"{result['users']} users"
    extra = ""
    if result.get("open_loop"):
        loop = result["open_loop"]
        extra = f", sent {loop['sent_per_s'] or 0:.2f} req/s, {loop['dropped']} dropped"
    print(
        f"    {where}: {result['requests']} requests{extra}, "
        f"{result['output_tokens_per_s']:.1f} tokens/s, TTFT p95 "
        f"{result['ttft_ms']['p95'] or 0:.1f} ms -> "
        f"{'SLOs met' if passed_level(result) else 'SLO breach'}",
        flush=True,
    )


def execute(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """Run the test into a scratch directory; return the summary and that directory."""
    steps = _steps(args.steps)
    if args.rate is not None and steps:
        raise UsageError("STEPS= searches user counts (closed loop); with RATE= run one rate, "
                         "or search rates with `make load-knee`")  # fmt: skip
    if args.knee and (steps or args.rate is not None or args.analyze):
        raise UsageError("`make load-knee` chooses the rates itself: drop RATE=/STEPS=/ANALYZE=")
    if args.workers and args.analyze:
        raise UsageError("WORKERS= runs Locust here; ANALYZE= reads a finished run: pick one")
    profile = load_profile(
        args.profile,
        users=args.users,
        duration_s=args.duration,
        # With a step search, DURATION is the time spent at each step.
        step_duration_s=args.duration if steps else None,
        steps=steps,
        rate=args.rate,
        max_tokens=args.max_tokens,
        ignore_eos=args.ignore_eos,
        prompts=args.prompts,
        seed=args.seed,
    )
    gates = (load_gates(args.gates) if args.gates else load_gates()).load
    mix = Mix(profile)
    open_loop = profile.rate is not None or args.knee
    # Open loop: the users are the pool of senders, not the load.
    users = (args.users or profile.open_loop.pool_users) if open_loop else profile.users
    if args.analyze:
        endpoint, model = args.endpoint or "unknown (analysed run)", args.model or "unknown"
    else:
        endpoint, model = resolve_target(args.endpoint, args.model)
        model = preflight(endpoint, model, mix.prompts[0][0])
        print(f"==> load test: {model} at {endpoint}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=args.out.parent, prefix=f".{args.out.name}.tmp-"))
    options = _locust_options(args)

    def run(level: Level, where: Path) -> dict[str, Any]:
        return run_level(endpoint, model, profile, gates, level, where, options, args.workers)

    try:
        knee = None
        if args.analyze:
            results = analyze(args.analyze, profile, gates, scratch, profile.rate)
        elif args.knee:
            results, knee = run_knee(run, profile, gates, users, scratch)
        else:
            results = []
            levels = profile.steps or [users]
            duration = profile.step_duration_s if profile.steps else profile.duration_s
            for step_users in levels:
                where = scratch / f"users-{step_users}" if profile.steps else scratch
                load = f"{profile.rate:g} req/s ({step_users} users in the pool)" if open_loop \
                    else f"{step_users} users"  # fmt: skip
                print(f"    {load} for {duration:g} s ...", flush=True)
                result = run(Level(step_users, duration, profile.rate), where)
                results.append(result)
                _print_level(result)
                # A latency, error or truncation breach ends the search (more load will not
                # help); too few requests only makes that step inconclusive.
                if set(result["gate"]["failed"]) - {"requests"}:
                    break
        summary = summarize_runs(args, profile, gates, mix, endpoint, model, results, knee)
        LoadSummary.read(summary, "the load summary about to be written")  # the readers' contract
        write_json(scratch / "summary.json", summary)
        write_atomic(scratch / "report.md", report.render(summary))
        if knee is not None:
            write_json(scratch / "knee.json", knee_document(summary))
            write_atomic(scratch / "knee.svg", plot.knee_svg(
                summary["knee"]["curve"], gates.model_dump(), knee["rate"]))  # fmt: skip
        return summary, scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def summarize_runs(
    args: argparse.Namespace,
    profile: Profile,
    gates: LoadGates,
    mix: Mix,
    endpoint: str,
    model: str,
    results: list[dict[str, Any]],
    knee: dict[str, Any] | None,
) -> dict[str, Any]:
    """The summary: the headline run's figures plus the search around it."""
    max_users = None
    if knee is not None:
        # The knee's last run (a confirmation), else the first run for the evidence.
        at_knee = [r for r in results if r["rate"] == knee["rate"]]
        best = at_knee[-1] if at_knee else results[0]
        passed = knee["rate"] is not None
    else:
        passing = [r for r in results if r["gate"]["passed"]]
        best = max(passing, key=lambda r: r["users"]) if passing else results[0]
        max_users = best["users"] if passing else None
        passed = bool(passing) and (not profile.steps or max_users >= profile.users)
        passed = passed and best["generator_cpu"]["status"] != "saturated"
    rows = [_step_row(r) for r in results]
    return {
        "stamp": stamp(
            "loadtest",
            prompt_set_sha256=mix.prompt_set_sha256(),
            mix_sha256=sha256_text(json.dumps(mix.describe(), sort_keys=True)),
            locust_version=locust.__version__,
        ),
        "endpoint": endpoint,
        "model": model,
        "measured_on": args.hardware or hardware_of(endpoint),
        "load": {
            "mode": "open" if best["rate"] is not None else "closed",
            "users": best["users"],
            "rate": best["rate"],
            "workers": args.workers,
            "spawn_rate": profile.spawn_rate or best["users"],
            "duration_s": best["duration_s"],
            "warmup_s": best["warmup_s"],
            "max_tokens": profile.max_tokens,
            "temperature": profile.temperature,
            "ignore_eos": best["ignore_eos"],  # as recorded in the samples
            "seed": profile.seed,
            "expected_users": profile.users,
            "mix": mix.describe(),
        },
        "prompt_set": {
            "files": sorted({c["prompts"] for c in mix.describe()}),
            "sha256": mix.prompt_set_sha256(),
            "prompts": sum(len(p) for p in mix.prompts),
        },
        "thresholds": gates.model_dump(),
        **best,
        "passed": passed,
        "steps": rows if profile.steps else [],
        "max_users_within_slo": max_users,
        "knee": None if knee is None else {**knee, "curve": rows},
        "warnings": warnings_of(best),
    }


def knee_document(summary: dict[str, Any]) -> dict[str, Any]:
    """knee.json: the curve (one row per run) and the knee, for machines and plots."""
    return {
        "stamp": summary["stamp"],
        "endpoint": summary["endpoint"],
        "model": summary["model"],
        "measured_on": summary["measured_on"],
        "thresholds": summary["thresholds"],
        "mix": summary["load"]["mix"],
        "users": summary["load"]["users"],
        "workers": summary["load"]["workers"],
        **summary["knee"],
    }


def publish(scratch: Path, out: Path) -> None:
    """Swap the finished run into place: readers see the old result or the new, never half."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        scratch.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        scratch.rename(out)


def _positive(kind: type, name: str, example: str) -> Any:
    """An argparse type: a positive number, or an error that says how to write it."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(
                f"{name}={text!r}: must be a number > 0, e.g. {example}"
            )
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="OpenAI-compatible base URL ending in /v1")
    parser.add_argument("--model", help="served model name (default: what the server lists)")
    parser.add_argument("--out", type=Path, default=BUILD / "load")
    parser.add_argument("--users", type=_positive(int, "USERS", "USERS=4"))
    parser.add_argument("--duration", type=_positive(float, "DURATION", "DURATION=30"))
    parser.add_argument(
        "--rate", type=_positive(float, "RATE", "RATE=2"), help="open loop: Poisson req/s"
    )
    parser.add_argument(
        "--workers", type=_positive(int, "WORKERS", "WORKERS=2"), default=0,
        help="Locust master + N worker processes on this machine",
    )  # fmt: skip
    parser.add_argument("--knee", action="store_true", help="search the highest rate in the SLOs")
    parser.add_argument("--steps", help="step search: comma-separated user counts, e.g. 1,2,4,8")
    parser.add_argument("--max-tokens", type=_positive(int, "MAX_TOKENS", "MAX_TOKENS=64"))
    parser.add_argument("--ignore-eos", action="store_true", default=None)
    parser.add_argument("--hardware", help="what the server runs on, for the cost report")
    parser.add_argument("--profile", type=Path, default=PROFILE_FILE)
    parser.add_argument("--prompts", type=Path, help="every request class's prompts (JSONL)")
    parser.add_argument("--gates", type=Path, help="default: policies/gates.yaml")
    parser.add_argument(
        "--seed", type=int, help="the profile's seed: request draws and arrival schedule"
    )
    parser.add_argument(
        "--analyze", type=Path, help="summarise a finished run's folder (samples.jsonl) instead"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary, scratch = execute(args)
    except (
        UsageError,
        ProfileError,
        PromptSetError,
        GatesError,
        FileNotFoundError,
        ValueError,
    ) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"ERROR: the load generator failed: {error}", file=sys.stderr)
        return 2
    publish(scratch, args.out)
    print(f"==> wrote {args.out}/summary.json and report.md")
    for warning in summary["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    if summary["knee"] is not None:
        return knee_verdict(summary["knee"], args.out)
    if summary["generator_cpu"]["status"] == "saturated":
        print(
            "ERROR: the load generator saturated its CPU, so these latencies measure Locust, not "
            "the server; rerun with fewer users or more workers",
            file=sys.stderr,
        )
        return 1
    if not summary["passed"]:
        failed = (
            ", ".join(
                f"{c['name']}={c['value']} (limit {c['limit']})"
                for c in summary["gate"]["checks"]
                if not c["passed"]
            )
            or f"the expected load of {summary['load']['expected_users']} users was not sustained"
        )
        print(f"ERROR: SLO breach: {failed}; see {args.out}/report.md", file=sys.stderr)
        return 1
    print(
        f"==> SLOs met: TTFT p95 {summary['ttft_ms']['p95']:.1f} ms, "
        f"{summary['output_tokens_per_s']:.1f} output tokens/s"
    )
    return 0


def knee_verdict(knee: dict[str, Any], out: Path) -> int:
    """0 when a rate met every SLO (the knee, or a lower bound of it), 1 when none did."""
    minutes = knee["elapsed_s"] / 60
    runs = len(knee["runs"])
    if knee["rate"] is None:
        lowest = min(run["rate"] for run in knee["runs"])
        print(f"ERROR: no rate down to {lowest:g} req/s met every SLO ({runs} runs, "
              f"{minutes:.1f} min); see {out}/report.md", file=sys.stderr)  # fmt: skip
        return 1
    how = {
        "converged": "the knee",
        "max_rate": "at least (the search's max_rate passed)",
        "budget": "so far, not confirmed (the run budget max_runs was spent)",
    }[knee["stopped_by"]]
    print(f"==> knee: {knee['rate']:g} req/s within every SLO, {how}; {runs} runs in "
          f"{minutes:.1f} min; curve in {out}/knee.json and knee.svg")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
