"""Open-loop senders' connections: opened before an arrival is due, not inside its timing.

Why: in an open loop each sender (a Locust user, loadtest/arrivals.py) has its own HTTP
connection and sends only every pool / rate seconds (64 senders at 4 req/s: every 16 s), while
vLLM closes a connection idle for 5 s (`VLLM_HTTP_TIMEOUT_KEEP_ALIVE`, uvicorn's keep-alive).
So at low rates every request found its connection closed and opened a new one inside its TTFT:
measured by `bench/load_vs_vllm_bench.py --rate 4` (all 71 of 71 requests of a round), 2-10 ms
at the median on the 2-core machine and 0.4-1.3 s at the p95 (max 2.2 s) with the cores
unpinned (timed around urllib3's connect; under gevent it resolves the name in a thread pool
and waits for the socket in the event loop, which a busy machine delays). vLLM's benchmark
client does not pay that: one aiohttp session whose pool hands out the connection used last,
kept alive by the traffic, and a DNS cache. Its TTFT clock, like ours, starts before the
connection is taken (`vllm/benchmarks/lib/endpoint_request_func.py`: `st` before
`session.post`), so a connection it does have to open counts in its TTFT too: the definitions
match, the pools did not.

The fix: `SenderConnections.prepare(due)` runs while the sender waits for its arrival,
`PRECONNECT_LEAD_S` before it is due (loadtest/arrivals.py `preconnect_at`). When by then the
connection would have been idle longer than `max_idle_s` (the profile's `reconnect_idle_s`,
below the server's keep-alive, so the server cannot close it just as the request goes out), or
is closed, or was never opened, a fresh one is opened now, while the sender is idle anyway. A
sender whose arrival is already due when it claims it lets the request connect, as vLLM's
client does when its pool has no idle connection; such requests are counted (`connect_s` in the
samples, `connects_in_request` in the summary).

How: the sender's own urllib3 pool classes are swapped for subclasses that stamp when a
connection went back to the pool and time every connect; a pre-connect takes the pool's
connection, connects it and puts it back (urllib3's pools are last-in-first-out, so the
request gets that one). Uses urllib3's `_get_conn`/`_put_conn` (stable since 1.x, pinned in
requirements/loadtest.txt; tests/loadtest/test_connections.py checks it against a real server).
"""

from __future__ import annotations

import time
from typing import Any

import gevent.local
import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError

from loadtest.arrivals import needs_fresh

_tally = gevent.local.local()  # per greenlet (one per Locust user): seconds spent connecting


def connect_seconds() -> float:
    """Seconds this greenlet spent opening connections since `reset_connect_seconds()`."""
    return getattr(_tally, "seconds", 0.0)


def reset_connect_seconds() -> None:
    _tally.seconds = 0.0


class _Timed:
    """Times its connects (into the greenlet's tally); stamps its return to the pool."""

    released_at: float | None = None

    def connect(self) -> None:
        started = time.perf_counter()
        try:
            super().connect()  # type: ignore[misc]
        finally:
            _tally.seconds = connect_seconds() + time.perf_counter() - started


class TimedHTTPConnection(_Timed, HTTPConnection):
    pass


class TimedHTTPSConnection(_Timed, HTTPSConnection):
    pass


class _Warm:
    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.released_at = time.perf_counter()
        super()._put_conn(conn)  # type: ignore[misc]

    def preconnect(self, due: float, max_idle_s: float) -> bool:
        """Open a fresh connection unless the pooled one is open and fresh enough at `due`."""
        conn = self._get_conn()  # type: ignore[attr-defined]  # closes a dropped one
        try:
            released_at = getattr(conn, "released_at", None)
            if not needs_fresh(conn.is_connected, released_at, due, max_idle_s):
                return False
            conn.close()
            conn.connect()
            return True
        except (OSError, HTTPError):
            conn.close()  # the request itself will connect, or fail and be recorded as failed
            return False
        finally:
            self._put_conn(conn)  # type: ignore[attr-defined]


class WarmHTTPPool(_Warm, HTTPConnectionPool):
    ConnectionCls = TimedHTTPConnection


class WarmHTTPSPool(_Warm, HTTPSConnectionPool):
    ConnectionCls = TimedHTTPSConnection


class SenderConnections:
    """One sender's (one `requests.Session`'s) connections to `url`'s host."""

    def __init__(self, session: requests.Session, url: str, max_idle_s: float) -> None:
        self.session, self.url, self.max_idle_s = session, url, max_idle_s
        for adapter in session.adapters.values():
            manager = getattr(adapter, "poolmanager", None)
            if manager is not None:  # the session's own pools (a proxy has its own manager)
                manager.pool_classes_by_scheme = {"http": WarmHTTPPool, "https": WarmHTTPSPool}

    def _pool(self) -> Any:
        """The pool `session.post(url)` will use: the same lookup as requests' send path."""
        session, url = self.session, self.url
        settings = session.merge_environment_settings(url, {}, None, session.verify, session.cert)
        request = requests.Request("POST", url).prepare()
        adapter = session.get_adapter(url)
        return adapter.get_connection_with_tls_context(
            request, settings["verify"], settings["proxies"], settings["cert"]
        )

    def prepare(self, due: float) -> bool:
        """Before an arrival `due` (perf_counter time): make sure a fresh connection waits for
        it. True when one was opened. Off (`max_idle_s` 0): the request connects itself."""
        if self.max_idle_s <= 0:
            return False
        pool = self._pool()
        if not isinstance(pool, _Warm):  # through a proxy: left to requests
            return False
        return pool.preconnect(due, self.max_idle_s)
