"""`make serve` / `make serve-stop`: the model served locally by vLLM's CPU build.

    python -m serving.local start [--model champion|candidate|<version>|<dir>] [--name stable]
                                  [--port N] [--timeout S]
    python -m serving.local check [--name stable]   # one real completion; cleans up a dead server
    python -m serving.local stop  [--name stable]

`start` resolves the model (registry alias/version through MLflow, or a directory), starts the
OpenAI-compatible server from serving/serving.yaml (spec.local_args) in its own process group,
waits until a real chat completion succeeds (a dead engine may still answer /health), then
writes build/serving/<name>.json (endpoint, pid, port, served_model_name, model ...) and leaves
the server running; its log is build/serving/<name>.log: vLLM's text log, with each request
and answer as one redacted JSON line (serving/request_log.py; `make monitor` reads them).
Any failure (bad model, port in use, engine dying, time-out) stops what was started, prints
the log tail and writes no state file.
`stop` stops exactly that process group and removes the state file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.evidence import BUILD, stamp, write_json
from common.model_digest import TAG as DIGEST_TAG
from common.model_digest import model_digest
from serving.spec import SpecError, load_spec

STATE_DIR = BUILD / "serving"
SERVING_DIR = Path(__file__).resolve().parent
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
LOG_TAIL_LINES = 40


class ServeError(RuntimeError):
    """The server cannot be started, checked or stopped; the message says why."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- paths, names and models
def state_path(name: str) -> Path:
    return STATE_DIR / f"{name}.json"


def log_path(name: str) -> Path:
    return STATE_DIR / f"{name}.log"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ServeError(
            f"NAME={name!r}: use lower-case letters, digits, '-' or '_' (e.g. stable, canary)", 2
        )
    return name


def resolve_model(ref: str) -> dict[str, Any]:
    """A directory, or a registry reference resolved through MLflow (pipelines.registry)."""
    path = Path(ref).expanduser()
    if path.exists() or ("/" in ref and not ref.startswith("models:/")):
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ServeError(
                f"MODEL={ref!r}: not a model directory (needs config.json, weights and a "
                "tokenizer); give a directory saved by the pipeline or a registry reference "
                "(champion, candidate, a version number)",
                2,
            )
        return {
            "model_dir": str(path.resolve()),
            "model_ref": ref,
            "model_version": "local",
            "model_digest": model_digest(path),
        }
    from pipelines.registry import RegistryError
    from pipelines.registry import resolve_model as registry_resolve

    try:
        model = registry_resolve(ref)
    except RegistryError as error:
        raise ServeError(f"MODEL={ref!r}: {error}", 2) from error
    return {
        "model_dir": str(model.path),
        "model_ref": ref,
        "model_version": model.version,
        # Set at registration; a version registered before digests existed is hashed now.
        "model_digest": model.tags.get(DIGEST_TAG) or model_digest(model.path),
        "registered_model": model.name,
        "model_aliases": model.aliases,
    }


# ---------------------------------------------------------------- ports and processes
def free_port(host: str, first: int, last: int) -> int:
    """A port in [first, last] nobody listens on, tried from a random start."""
    ports = list(range(first, last + 1))
    start = random.randrange(len(ports))
    for port in ports[start:] + ports[:start]:
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise ServeError(f"no free port in {first}-{last} on {host}; give one with PORT=", 2)


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as error:
            raise ServeError(
                f"PORT={port}: {host}:{port} is already in use ({error.strerror}); "
                "leave PORT empty to pick a free one",
                2,
            ) from error


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def is_our_server(pid: int, port: int) -> bool:
    """True when pid still is the vLLM server we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [w.decode(errors="replace") for w in cmdline]
    return SERVER_MODULE in words and str(port) in words


def stop_group(pgid: int, grace_s: float = 20) -> None:
    """SIGTERM the whole process group (server + engine core), SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            _reap(pgid)
            time.sleep(0.2)


def _reap(pid: int) -> None:
    """Collect our own exited child, so it does not linger as a zombie in the group."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


# ---------------------------------------------------------------- HTTP
def _request(url: str, body: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def real_completion(endpoint: str, served_name: str, timeout: float = 60) -> str:
    """One chat completion; returns the text, raises OSError/ValueError when there is none."""
    status, text = _request(
        f"{endpoint}/chat/completions",
        {
            "model": served_name,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 4,
            "temperature": 0,
        },
        timeout=timeout,
    )
    if status != 200:
        raise ValueError(f"HTTP {status}: {text[:300]}")
    choices = json.loads(text).get("choices") or []
    if not choices or "message" not in choices[0]:
        raise ValueError(f"no choices in the answer: {text[:300]}")
    return choices[0]["message"].get("content") or ""


def wait_ready(proc: subprocess.Popen, endpoint: str, served_name: str, timeout_s: float) -> float:
    """Wait for /health, then for a real completion; returns the seconds it took."""
    started = time.monotonic()
    base = endpoint.removesuffix("/v1")
    last = "no answer yet"
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise ServeError(f"the vLLM server exited with code {proc.returncode} while starting")
        try:
            status, _ = _request(f"{base}/health", timeout=5)
            if status == 200:
                real_completion(endpoint, served_name)
                return time.monotonic() - started
            last = f"/health answered HTTP {status}"
        except (OSError, ValueError) as error:
            last = str(error)
        time.sleep(1)
    raise ServeError(f"no successful completion within {timeout_s:.0f} s (last: {last})")


# ---------------------------------------------------------------- commands
def read_state(name: str) -> dict[str, Any] | None:
    try:
        return json.loads(state_path(name).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {}


def start(ref: str, name: str, port: int | None, timeout_s: float | None) -> dict[str, Any]:
    check_name(name)
    try:
        spec = load_spec()
    except SpecError as error:
        raise ServeError(str(error), 2) from error
    state = read_state(name)
    if state and alive(state.get("pid", -1)) and is_our_server(state["pid"], state["port"]):
        raise ServeError(
            f"a server named {name!r} is already running ({state['endpoint']}, pid "
            f"{state['pid']}); stop it with `make serve-stop NAME={name}` or pick another NAME",
            2,
        )
    state_path(name).unlink(missing_ok=True)  # stale: its process is gone
    model = resolve_model(ref)
    host = spec.local.host
    if port is None:
        port = free_port(host, *spec.local.port_range)
    else:
        check_port_free(host, port)
    served_name = spec.served_name()
    endpoint = f"http://{host}:{port}/v1"
    log = log_path(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        *spec.local_args(model["model_dir"], served_name, port),
    ]
    # The request log (serving/request_log.py) is loaded by the server the way GKE loads it:
    # a dictConfig file named by VLLM_LOGGING_CONFIG_PATH, the formatter found via PYTHONPATH.
    log_config = write_json(STATE_DIR / f"{name}.logging.json", spec.logging_config())
    python_path = os.pathsep.join(p for p in (str(SERVING_DIR), os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        **spec.local_env(),
        "VLLM_LOGGING_CONFIG_PATH": str(log_config),
        "PYTHONPATH": python_path,
    }
    print(f"==> starting vLLM (CPU) '{name}' on {model['model_dir']} at {endpoint}", flush=True)
    with log.open("w") as log_file:
        log_file.write("$ " + " ".join(command) + "\n")
        log_file.flush()
        proc = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        seconds = wait_ready(proc, endpoint, served_name, timeout_s or spec.local.startup_timeout_s)
    except BaseException as error:
        stop_group(proc.pid)
        proc.wait()
        if isinstance(error, ServeError):
            raise ServeError(f"{error}\n--- last lines of {log} ---\n{log_tail(log)}") from None
        raise
    document = {
        "name": name,
        "endpoint": endpoint,
        "pid": proc.pid,
        "pgid": proc.pid,
        "port": port,
        "host": host,
        "served_model_name": served_name,
        **model,
        # What shapes the answers besides the weights (evals key their cache on it): the engine
        # arguments without this run's paths and ports.
        "answer_args": spec.engine_args("<model>", served_name),
        "log": str(log),
        "startup_seconds": round(seconds, 1),
        "command": command,
        "stamp": stamp("serving.local"),
    }
    write_json(state_path(name), document)
    print(
        f"ready in {seconds:.0f} s: {endpoint} (model '{served_name}', "
        f"version {model['model_version']}); log {log}; stop with `make serve-stop NAME={name}`"
    )
    return document


def stop(name: str) -> bool:
    """Stop the server named `name`; False when none was running."""
    check_name(name)
    state = read_state(name)
    if state is None:
        print(f"no server named {name!r} is running (no {state_path(name)})")
        return False
    pid, port = state.get("pid"), state.get("port")
    running = isinstance(pid, int) and alive(pid) and is_our_server(pid, port)
    if running:
        stop_group(state.get("pgid", pid))
        print(f"stopped '{name}' (pid {pid}, port {port})")
    else:
        print(f"'{name}' was not running any more (pid {pid}); removed its state file")
    state_path(name).unlink(missing_ok=True)
    return running


def check(name: str) -> str:
    """A real completion against a running server; a dead one is reported and cleaned up."""
    check_name(name)
    state = read_state(name)
    if not state:
        raise ServeError(f"no server named {name!r}: start it with `make serve NAME={name}`", 2)
    try:
        if not alive(state["pid"]):
            raise OSError(f"process {state['pid']} is gone")
        return real_completion(state["endpoint"], state["served_model_name"], timeout=30)
    except (OSError, ValueError) as error:
        stop_group(state.get("pgid", state["pid"]))
        state_path(name).unlink(missing_ok=True)
        raise ServeError(
            f"server {name!r} at {state['endpoint']} is not serving ({error}); stopped it and "
            f"removed its state file\n--- last lines of {state['log']} ---\n"
            f"{log_tail(Path(state['log']))}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a server and wait until it answers")
    p_start.add_argument("--model", default="", help="alias, version or directory")
    p_start.add_argument("--name", default="stable")
    p_start.add_argument("--port", type=int, default=None, help="default: a free port")
    p_start.add_argument("--timeout", type=float, default=None, help="start-up limit, seconds")
    for command in ("stop", "check"):
        sub.add_parser(command).add_argument("--name", default="stable")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            ref = args.model or load_spec().model.ref
            start(ref, args.name, args.port, args.timeout)
        elif args.command == "stop":
            stop(args.name)
        else:
            print(f"'{args.name}' answered: {check(args.name)!r}")
    except ServeError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return error.code
    except SpecError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
