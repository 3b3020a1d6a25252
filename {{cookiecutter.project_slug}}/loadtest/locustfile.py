"""Locust users that stream chat completions from an OpenAI-compatible endpoint (vLLM).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000/v1 --model NAME ...

Normally started by `make load` (loadtest/run.py); the same file runs distributed on GKE
(loadtest/k8s/). Design choices, each from a measured trap:
- `HttpUser` with `stream=True`: FastHttpUser buffers ~1 KB before yielding and inflates TTFT.
- With `stream=True` Locust's own response time is only time-to-headers, so TTFT, inter-token
  latency, end-to-end latency and output tokens are fired as custom request events, and every
  request's raw timings are kept: percentiles are computed from them (Locust rounds its own).
- Arrival times are those of the socket reads, not of requests' yields: requests hands over one
  HTTP chunk (one SSE event) at a time, so events that came in one read were timed microseconds
  apart and read as ~0.05 ms inter-token gaps (`_read_clock`; loadtest/sse.py defines ITL).
- Open loop (`--arrival-rate`): the users are a pool of senders for a seeded Poisson schedule
  (loadtest/arrivals.py says why Locust's own pacing does not fit); each process sends its share
  of the rate (distributed: rate / --expect-workers, a seed per worker), and every arrival is
  recorded with its scheduled time, sent late or dropped. A sender opens its connection while it
  waits for its arrival when it would otherwise find it closed by the server's keep-alive
  (loadtest/connections.py): a TCP connect inside TTFT read 1.4-1.6x vLLM's client's p95.
- What each request asks for (prompt, answer length) comes from the profile's request mix
  (loadtest/mix.py), drawn from a generator seeded per request, so runs are reproducible.
- In distributed mode the raw samples travel to the master with the regular worker reports, and
  when the run time is up the master has every worker finish its in-flight requests and hand
  over its last samples before it quits (`_flush_workers`): Locust itself waits 0.5 s.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import psutil
from locust import HttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtest.arrivals import Dispatcher, PoissonSchedule, preconnect_at
from loadtest.connections import SenderConnections, connect_seconds, reset_connect_seconds
from loadtest.mix import Mix, Request
from loadtest.profile import PROFILE_FILE, load_profile
from loadtest.sse import StreamMeter, StreamResult

SAMPLES: list[dict[str, Any]] = []
DROPPED: list[dict[str, Any]] = []
CPU: list[float] = []
_user_numbers = itertools.count()
_unflushed: set[str] = set()  # master: workers whose last samples have not come yet
FLUSH, FLUSHED = "llm_flush", "llm_flushed"


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--model", default="", help="served model name (required)")
    parser.add_argument("--load-profile", default=str(PROFILE_FILE), help="request mix, open loop")
    parser.add_argument("--max-tokens", type=int, default=0, help="one class capped at N")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--ignore-eos", choices=["true", "false"], default="false")
    parser.add_argument("--prompts", default="", help="every class's prompts (default: profile)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--request-timeout", type=float, default=120.0)
    parser.add_argument("--arrival-rate", type=float, default=0.0, help="req/s; 0 = closed loop")
    parser.add_argument("--arrival-window", type=float, default=0.0, help="s of arrivals planned")
    parser.add_argument("--samples-out", default="", help="JSONL of raw per-request samples")


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    if not environment.parsed_options.model:
        raise SystemExit("ERROR: --model (the served model name) is required")
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(FLUSHED, _receive_flush)
    else:
        gevent.spawn(_sample_cpu)
    if isinstance(runner, WorkerRunner):
        # Concurrent: stopping the users waits for their requests (up to --stop-timeout).
        runner.register_message(FLUSH, _flush, concurrent=True)


@dataclass
class _Run:
    """What this process sends: the mix and, open loop, its arrival schedule."""

    mix: Mix
    seed: str
    dispatcher: Dispatcher | None
    reconnect_idle_s: float = 0.0
    wall_minus_perf: float = field(default_factory=lambda: time.time() - time.perf_counter())
    closed: gevent.event.Event = field(default_factory=gevent.event.Event)


_run: list[_Run] = []


def _run_of(environment: Any) -> _Run:
    """Built at the first user's start: a worker has the master's options only from then on."""
    if _run:
        return _run[0]
    options, runner = environment.parsed_options, environment.runner
    profile = load_profile(
        Path(options.load_profile),
        max_tokens=options.max_tokens or None,
        ignore_eos=options.ignore_eos == "true" or None,
        prompts=Path(options.prompts) if options.prompts else None,
    )
    worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    dispatcher = None
    if options.arrival_rate > 0:
        # Each process sends its share; independent Poisson streams add up to the total rate.
        # The master hands --expect-workers to its workers with the other options.
        workers = max(options.expect_workers, 1) if isinstance(runner, WorkerRunner) else 1
        schedule = PoissonSchedule(
            options.arrival_rate / workers,
            f"{options.seed}-arrivals-{worker}",
            time.perf_counter(),
            options.arrival_window or None,
        )
        dispatcher = Dispatcher(schedule, profile.open_loop.drop_after_s)
    reconnect_idle_s = profile.open_loop.reconnect_idle_s
    _run.append(_Run(Mix(profile), f"{options.seed}-{worker}", dispatcher, reconnect_idle_s))
    return _run[0]


@events.test_stopping.add_listener
def _close_arrivals(environment: Any, **_: Any) -> None:
    """No arrival is sent after the run time; those that waited too long for a sender: dropped."""
    if not _run or _run[0].dispatcher is None:
        return
    run = _run[0]
    run.closed.set()
    for at in run.dispatcher.close(time.perf_counter()):  # type: ignore[union-attr]
        DROPPED.append(
            {"scheduled_at": at + run.wall_minus_perf, "reason": "no free sender (at the stop)"}
        )


def _sample_cpu() -> None:
    """CPU use of this Locust process (percent of one core), once a second."""
    process = psutil.Process()
    process.cpu_percent(None)
    while True:
        gevent.sleep(1.0)
        CPU.append(process.cpu_percent(None))


def _read_clock(response: Any) -> Callable[[], float]:
    """A clock that reads the time of the response's latest socket read (see the docstring).

    Wraps `readinto` of the SocketIO under urllib3 -> http.client -> BufferedReader, new for each
    response. Another transport falls back to timing each chunk as it is handed over.
    """
    arrived = [time.perf_counter()]  # bytes read with the headers came no later than this
    try:
        raw = response.raw._fp.fp.raw
        read = raw.readinto
    except AttributeError:
        return time.perf_counter

    def timed(buffer: Any) -> int | None:
        count = read(buffer)
        arrived[0] = time.perf_counter()
        return count

    raw.readinto = timed
    return lambda: arrived[0]


def sample_of(result: StreamResult, started_wall: float, status: int) -> dict[str, Any]:
    return {
        "t_start": started_wall,
        "status": status,
        "ttft_s": result.ttft_s,
        "itl_s": result.itl_s,
        "chunk_itl_s": result.chunk_itl_s,
        "e2e_s": result.e2e_s,
        "output_tokens": result.output_tokens,
        "input_tokens": result.input_tokens,
        "usage_reported": result.usage_reported,
        "finish_reason": result.finish_reason,
        "error": result.error,
    }


def _error_sample(message: str, started_wall: float, elapsed: float, status: int) -> dict:
    return {
        "t_start": started_wall,
        "status": status,
        "ttft_s": None,
        "itl_s": [],
        "chunk_itl_s": [],
        "e2e_s": elapsed,
        "output_tokens": 0,
        "input_tokens": None,
        "usage_reported": False,
        "finish_reason": None,
        "error": message,
    }


class ChatUser(HttpUser):
    # Closed loop: the next request as soon as this one ended, so concurrency == users.
    # Open loop: the task itself waits for the arrival it takes (loadtest/arrivals.py).
    wait_time = constant(0)

    def on_start(self) -> None:
        self.run = _run_of(self.environment)
        self.number = next(_user_numbers)
        self.sent = itertools.count()
        url = f"{self.host.rstrip('/')}/chat/completions"
        self.connections = SenderConnections(self.client, url, self.run.reconnect_idle_s)

    @task
    def chat(self) -> None:
        run = self.run
        if run.dispatcher is None:
            rng = random.Random(f"{run.seed}-user-{self.number}-{next(self.sent)}")
            self._send(run.mix.draw(rng), scheduled_wall=None)
            return
        free_at = time.perf_counter()
        arrival, dropped = run.dispatcher.claim(free_at)
        for at in dropped:
            DROPPED.append({"scheduled_at": at + run.wall_minus_perf, "reason": "no free sender"})
        if arrival is None:
            run.closed.wait()  # the run is over: nothing more to send
            return
        # Shortly before it is due, a fresh connection unless the sender's own is warm (idle
        # senders' connections are closed by the server's keep-alive), so no connect lands in
        # the request's TTFT; then sleep until it is due. Wake at once when the run ends.
        check_at = preconnect_at(arrival.scheduled, time.perf_counter())
        if check_at is not None:
            if run.closed.wait(timeout=max(0.0, check_at - time.perf_counter())):
                return
            self.connections.prepare(arrival.scheduled)
        if run.closed.wait(timeout=max(0.0, arrival.scheduled - time.perf_counter())):
            return
        rng = random.Random(f"{run.seed}-arrival-{arrival.index}")
        # Waiting for a free sender (the pool was full) vs waking late (a busy event loop).
        sender_wait = max(0.0, free_at - arrival.scheduled)
        scheduled_wall = arrival.scheduled + run.wall_minus_perf
        self._send(run.mix.draw(rng), scheduled_wall, sender_wait)

    def _send(
        self, request: Request, scheduled_wall: float | None, sender_wait_s: float = 0.0
    ) -> None:
        options = self.environment.parsed_options
        payload = {
            "model": options.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": options.temperature,
            "stream": True,
            # vLLM extension: a running token count in every chunk, for chunks of several tokens.
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }
        if request.ignore_eos:
            payload["ignore_eos"] = True  # vLLM extension: always generate max_tokens
        started_wall, started = time.time(), time.perf_counter()
        meter = StreamMeter(started)
        reset_connect_seconds()
        with self.client.post(
            "/chat/completions",
            json=payload,
            stream=True,
            catch_response=True,
            name="chat/completions (time to headers)",
            timeout=options.request_timeout,
        ) as response:
            if response.status_code != 200:
                detail = response.text[:300] if response.status_code else str(response.error)
                message = f"HTTP {response.status_code}: {detail}"
                response.failure(message)
                sample = _error_sample(
                    message, started_wall, time.perf_counter() - started, response.status_code
                )
            else:
                arrived = _read_clock(response)
                try:
                    for chunk in response.iter_content(chunk_size=None):
                        meter.feed(chunk, arrived())
                except Exception as error:  # a broken connection mid-stream is a failed request
                    meter.fail(f"stream broken: {error}")
                result = meter.finish(time.perf_counter())
                if result.ok:
                    response.success()
                else:
                    response.failure(result.error)
                sample = sample_of(result, started_wall, 200)
        # Time spent opening a connection inside this request (in its TTFT; 0 when reused).
        sample["connect_s"] = connect_seconds()
        # What was asked travels with the sample: the gate judges truncation on natural answers.
        sample["request_class"] = request.request_class
        sample["max_tokens"] = request.max_tokens
        sample["ignore_eos"] = request.ignore_eos
        if scheduled_wall is not None:
            sample["scheduled_at"] = scheduled_wall
            sample["queue_delay_s"] = max(0.0, started_wall - scheduled_wall)
            sample["sender_wait_s"] = sender_wait_s
        self._record(sample)

    def _record(self, sample: dict[str, Any]) -> None:
        SAMPLES.append(sample)
        fire = self.environment.events.request.fire
        if sample["error"] is not None:
            fire(
                request_type="LLM",
                name="request",
                response_time=sample["e2e_s"] * 1000,
                response_length=0,
                exception=Exception(sample["error"]),
                context={},
            )
            return
        if sample["ttft_s"] is not None:
            fire(
                request_type="LLM",
                name="ttft",
                response_time=sample["ttft_s"] * 1000,
                response_length=0,
                exception=None,
                context={},
            )
        if sample["itl_s"]:
            mean_itl = 1000 * sum(sample["itl_s"]) / len(sample["itl_s"])
            fire(
                request_type="LLM",
                name="itl (mean per request)",
                response_time=mean_itl,
                response_length=0,
                exception=None,
                context={},
            )
        # response_length carries the output tokens: Locust's "Average size" = tokens/request.
        fire(
            request_type="LLM",
            name="e2e",
            response_time=sample["e2e_s"] * 1000,
            response_length=sample["output_tokens"],
            exception=None,
            context={},
        )
        if sample["finish_reason"] == "length" and not sample["ignore_eos"]:
            fire(
                request_type="LLM",
                name="truncated (finish_reason=length)",
                response_time=0,
                response_length=0,
                exception=None,
                context={},
            )


@events.report_to_master.add_listener
def _ship(client_id: str, data: dict[str, Any], **_: Any) -> None:
    """Worker: move the raw samples gathered since the last report into the report."""
    data["llm_samples"], SAMPLES[:] = list(SAMPLES), []
    data["llm_dropped"], DROPPED[:] = list(DROPPED), []
    data["llm_cpu"], CPU[:] = list(CPU), []


@events.worker_report.add_listener
def _receive(client_id: str, data: dict[str, Any], **_: Any) -> None:
    SAMPLES.extend(data.get("llm_samples", []))
    DROPPED.extend(data.get("llm_dropped", []))
    CPU.extend(data.get("llm_cpu", []))


@events.test_stopping.add_listener
def _flush_workers(environment: Any, **_: Any) -> None:
    """Master: before quitting, wait for every worker's last samples (or give up, and say so)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or not runner.clients:
        return
    _unflushed.update(client.id for client in runner.clients.all)
    runner.send_message(FLUSH)
    deadline = time.monotonic() + (environment.stop_timeout or 0) + 30
    while _unflushed and time.monotonic() < deadline:
        gevent.sleep(0.2)
    if _unflushed:
        print(f"WARNING: {len(_unflushed)} worker(s) sent no last samples: {sorted(_unflushed)}")


def _flush(environment: Any, msg: Any, **_: Any) -> None:
    """Worker: finish the in-flight requests, then hand every sample left to the master."""
    environment.runner.stop()
    environment.runner.send_message(FLUSHED, _ship_now())


def _ship_now() -> dict[str, Any]:
    data: dict[str, Any] = {}
    _ship("", data)
    return data


def _receive_flush(environment: Any, msg: Any, **_: Any) -> None:
    _receive(msg.node_id, msg.data)
    _unflushed.discard(msg.node_id)


@events.quitting.add_listener
def _write_samples(environment: Any, **_: Any) -> None:
    """Master or single process: write every raw sample once the run is over."""
    out = environment.parsed_options.samples_out
    if not out or isinstance(environment.runner, WorkerRunner):
        return
    lines = [json.dumps({"kind": "request", **s}) for s in SAMPLES]
    lines += [json.dumps({"kind": "dropped", **d}) for d in DROPPED]
    lines += [json.dumps({"kind": "cpu", "percent": p}) for p in CPU]
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    tmp.replace(out)
