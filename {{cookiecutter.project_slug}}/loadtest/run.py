"""`make load`: run the Locust test headless against an endpoint and gate it on the SLOs.

    python -m loadtest.run [--endpoint URL/v1] [--out build/load] [--users N] [--duration S]
                           [--steps 1,2,4,8] [--hardware TEXT]
    python -m loadtest.run --analyze DIR --users N --duration S --model NAME   (a GKE run)

Writes OUT/summary.json, OUT/report.md and Locust's CSV/HTML (per step in OUT/users-N/).
Exit codes: 0 SLOs met; 1 an SLO breached or the load generator saturated (results not valid);
2 no usable endpoint (dead, or answering errors) or bad input. Output appears all at once at
the end, so a failed or interrupted run never leaves a half-written summary behind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import locust
import requests

from common.evidence import BUILD, ROOT, read_json, stamp, write_atomic, write_json
from loadtest import metrics, report, server_metrics
from loadtest.profile import Profile, ProfileError, load_profile
from loadtest.prompts import DEFAULT_PROMPTS, PromptSetError, load_prompts
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


def run_locust(
    endpoint: str,
    model: str,
    profile: Profile,
    users: int,
    duration: float,
    out: Path,
    prompts: Path,
) -> tuple[list[dict], list[float]]:
    """One headless Locust run in its own process; returns its raw samples and CPU readings."""
    out.mkdir(parents=True, exist_ok=True)
    samples_file = out / "samples.jsonl"
    options = {
        "--users": users,
        "--spawn-rate": profile.spawn_rate or users,
        "--run-time": f"{duration:g}s",
        "--stop-timeout": f"{profile.stop_timeout_s:g}",
        "--host": endpoint,
        "--csv": out / "locust",
        "--html": out / "locust.html",
        "--loglevel": "WARNING",
        # Our own options (loadtest/locustfile.py):
        "--model": model,
        "--max-tokens": profile.max_tokens,
        "--temperature": profile.temperature,
        "--ignore-eos": "true" if profile.ignore_eos else "false",
        "--seed": profile.seed,
        "--request-timeout": profile.request_timeout_s,
        "--prompts": prompts,
        "--samples-out": samples_file,
    }
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["--only-summary", *(str(x) for pair in options.items() for x in pair)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limit = duration + profile.stop_timeout_s + 120
    with (out / "locust.log").open("w") as log:
        try:
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=limit, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"Locust did not finish within {limit:.0f} s") from error
    # Locust exits 1 when any request failed: that is data, judged by the gate, not a crash.
    if done.returncode not in (0, 1) or not samples_file.exists():
        tail = (out / "locust.log").read_text()[-1500:]
        raise RuntimeError(f"Locust failed (exit {done.returncode}); log tail:\n{tail}")
    return read_samples(samples_file)


def read_samples(path: Path) -> tuple[list[dict], list[float]]:
    """The locustfile's raw records: one per request, plus the generator's CPU readings."""
    samples, cpu = [], []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.pop("kind") == "request":
            samples.append(record)
        else:
            cpu.append(record["percent"])
    return samples, cpu


def evaluate(
    samples: list[dict],
    cpu: list[float],
    server: dict[str, Any],
    profile: Profile,
    gates: LoadGates,
    users: int,
    duration: float,
) -> dict[str, Any]:
    """One load level's figures, SLO verdict and self-checks."""
    result = metrics.summarize(samples, gates, metrics.ignore_eos_of(samples, profile.ignore_eos))
    result["gate"] = metrics.gate(result, gates)
    result["generator_cpu"] = metrics.cpu_verdict(
        cpu, profile.generator.cpu_warn_percent, profile.generator.cpu_fail_percent
    )
    result["server"] = server
    result["server_cross_check"] = server_metrics.cross_check(
        result["ttft_ms"], server, profile.ttft_tolerance
    )
    result["server_itl_cross_check"] = server_metrics.cross_check_itl(result["itl_ms"], server)
    result["users"] = users
    result["duration_s"] = duration
    return result


def run_level(
    endpoint: str,
    model: str,
    profile: Profile,
    gates: LoadGates,
    users: int,
    duration: float,
    out: Path,
    prompts: Path,
) -> dict[str, Any]:
    before = server_metrics.scrape(endpoint)
    samples, cpu = run_locust(endpoint, model, profile, users, duration, out, prompts)
    server = server_metrics.server_view(before, server_metrics.scrape(endpoint), model)
    return evaluate(samples, cpu, server, profile, gates, users, duration)


def analyze(
    directory: Path, profile: Profile, gates: LoadGates, scratch: Path
) -> list[dict[str, Any]]:
    """A run made elsewhere (distributed on GKE): its samples.jsonl and Locust files."""
    samples_file = directory / "samples.jsonl"
    if not samples_file.is_file():
        raise UsageError(f"no samples.jsonl in {directory} (copy /out from the Locust master)")
    shutil.copytree(directory, scratch, dirs_exist_ok=True)
    samples, cpu = read_samples(samples_file)
    server = {"available": False, "reason": "analysed after the run; /metrics not scraped"}
    return [evaluate(samples, cpu, server, profile, gates, profile.users, profile.duration_s)]


def _step_row(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "users": result["users"],
        "passed": result["gate"]["passed"],
        "failed": result["gate"]["failed"],
        "requests": result["requests"],
        "requests_per_s": result["requests_per_s"],
        "output_tokens_per_s": result["output_tokens_per_s"],
        "goodput_tokens_per_s": result["goodput"]["output_tokens_per_s"],
        "ttft_p95_ms": result["ttft_ms"]["p95"],
        "itl_p95_ms": result["itl_ms"]["p95"],
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
    return found


def execute(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    """Run the test into a scratch directory; return the summary and that directory."""
    steps = [int(s) for s in args.steps.split(",") if s.strip()] if args.steps else None
    profile = load_profile(
        args.profile,
        users=args.users,
        duration_s=args.duration,
        # With a step search, DURATION is the time spent at each step.
        step_duration_s=args.duration if steps else None,
        steps=steps,
        max_tokens=args.max_tokens,
        ignore_eos=args.ignore_eos,
    )
    gates = (load_gates(args.gates) if args.gates else load_gates()).load
    prompt_set = load_prompts(args.prompts)
    if args.analyze:
        endpoint, model = args.endpoint or "unknown (analysed run)", args.model or "unknown"
    else:
        endpoint, model = resolve_target(args.endpoint, args.model)
        model = preflight(endpoint, model, prompt_set.prompts[0])
        print(f"==> load test: {model} at {endpoint}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=args.out.parent, prefix=f".{args.out.name}.tmp-"))
    try:
        levels = [] if args.analyze else profile.steps or [profile.users]
        duration = profile.step_duration_s if profile.steps else profile.duration_s
        results = analyze(args.analyze, profile, gates, scratch) if args.analyze else []
        for users in levels:
            where = scratch / f"users-{users}" if profile.steps else scratch
            print(f"    {users} users for {duration:g} s ...", flush=True)
            result = run_level(
                endpoint, model, profile, gates, users, duration, where, prompt_set.path
            )
            results.append(result)
            print(
                f"    {users} users: {result['requests']} requests, "
                f"{result['output_tokens_per_s']:.1f} tokens/s, TTFT p95 "
                f"{result['ttft_ms']['p95'] or 0:.1f} ms -> "
                f"{'SLOs met' if result['gate']['passed'] else 'SLO breach'}",
                flush=True,
            )
            # A latency, error or truncation breach ends the search (more load will not help);
            # too few requests only makes that step inconclusive.
            if set(result["gate"]["failed"]) - {"requests"}:
                break
        passing = [r for r in results if r["gate"]["passed"]]
        best = max(passing, key=lambda r: r["users"]) if passing else results[0]
        max_users = best["users"] if passing else None
        passed = bool(passing) and (not profile.steps or max_users >= profile.users)
        summary: dict[str, Any] = {
            "stamp": stamp(
                "loadtest", prompt_set_sha256=prompt_set.sha256, locust_version=locust.__version__
            ),
            "endpoint": endpoint,
            "model": model,
            "measured_on": args.hardware or hardware_of(endpoint),
            "load": {
                "users": best["users"],
                "spawn_rate": profile.spawn_rate or best["users"],
                "duration_s": duration,
                "max_tokens": profile.max_tokens,
                "temperature": profile.temperature,
                "ignore_eos": best["ignore_eos"],  # as recorded in the samples
                "seed": profile.seed,
                "expected_users": profile.users,
            },
            "prompt_set": {
                "path": str(prompt_set.path.relative_to(ROOT))
                if prompt_set.path.is_relative_to(ROOT)
                else str(prompt_set.path),
                "sha256": prompt_set.sha256,
                "prompts": len(prompt_set.prompts),
            },
            "thresholds": gates.model_dump(),
            **best,
            "passed": passed and best["generator_cpu"]["status"] != "saturated",
            "steps": [_step_row(r) for r in results] if profile.steps else [],
            "max_users_within_slo": max_users,
            "warnings": warnings_of(best),
        }
        write_json(scratch / "summary.json", summary)
        write_atomic(scratch / "report.md", report.render(summary))
        return summary, scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="OpenAI-compatible base URL ending in /v1")
    parser.add_argument("--model", help="served model name (default: what the server lists)")
    parser.add_argument("--out", type=Path, default=BUILD / "load")
    parser.add_argument("--users", type=int)
    parser.add_argument("--duration", type=float, help="seconds")
    parser.add_argument("--steps", help="step search: comma-separated user counts, e.g. 1,2,4,8")
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--ignore-eos", action="store_true", default=None)
    parser.add_argument("--hardware", help="what the server runs on, for the cost report")
    parser.add_argument("--profile", type=Path, default=Path(__file__).with_name("profile.yaml"))
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    parser.add_argument("--gates", type=Path, help="default: policies/gates.yaml")
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


if __name__ == "__main__":
    raise SystemExit(main())
