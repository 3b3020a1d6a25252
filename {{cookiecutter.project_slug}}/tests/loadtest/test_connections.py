"""Open-loop senders' connections (loadtest/connections.py) against a real keep-alive server:
opened before the arrival, reused by the request, replaced when the server closed it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# locust first: it has gevent patch the standard library, as in a Locust process, and that must
# happen before requests imports ssl (patched afterwards, as other tests' locust imports would,
# ssl recurses).
import locust  # noqa: F401
import pytest
import requests

from loadtest.connections import SenderConnections, connect_seconds, reset_connect_seconds


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        self.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    timeout = 0.5  # idle connections are closed after 0.5 s (vLLM: 5 s)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"data: {}\n\n" * 3
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"


def _send(session: requests.Session, url: str) -> float:
    """A streamed request read to its end, as the locustfile sends it; the seconds it spent
    opening a connection."""
    reset_connect_seconds()
    with session.post(url, json={"stream": True}, stream=True) as response:
        assert response.status_code == 200
        assert b"".join(response.iter_content(chunk_size=None)).count(b"data:") == 3
    return connect_seconds()


def _wait_for(condition, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_request_after_a_preconnect_opens_nothing_itself(server: _Server) -> None:
    session = requests.Session()
    connections = SenderConnections(session, _url(server), max_idle_s=2.0)
    assert connections.prepare(due=time.perf_counter() + 0.25)  # none yet: opened now
    _wait_for(lambda: server.connections == 1)
    assert _send(session, _url(server)) == 0.0
    assert server.connections == 1


def test_a_warm_connection_is_reused_not_replaced(server: _Server) -> None:
    session = requests.Session()
    connections = SenderConnections(session, _url(server), max_idle_s=2.0)
    assert _send(session, _url(server)) > 0  # the first request connects itself: none warm
    assert not connections.prepare(due=time.perf_counter() + 0.25)
    assert _send(session, _url(server)) == 0.0
    assert server.connections == 1


def test_a_connection_closed_by_the_servers_keep_alive_is_reopened_before_the_arrival(
    server: _Server,
) -> None:
    session = requests.Session()
    connections = SenderConnections(session, _url(server), max_idle_s=2.0)
    _send(session, _url(server))
    time.sleep(0.8)  # idle past the server's 0.5 s keep-alive: the server closed it
    assert connections.prepare(due=time.perf_counter() + 0.25)
    _wait_for(lambda: server.connections == 2)
    assert _send(session, _url(server)) == 0.0  # no connect inside the request's timing
    assert server.connections == 2


def test_a_connection_that_will_have_idled_too_long_is_replaced(server: _Server) -> None:
    """Open, but at the arrival it would be idle > max_idle_s: the server may close it just as
    the request goes out, so a fresh one is opened."""
    session = requests.Session()
    connections = SenderConnections(session, _url(server), max_idle_s=2.0)
    _send(session, _url(server))
    assert connections.prepare(due=time.perf_counter() + 3.0)
    _wait_for(lambda: server.connections == 2)
    assert _send(session, _url(server)) == 0.0 and server.connections == 2


def test_off_the_request_connects_itself_and_that_is_timed(server: _Server) -> None:
    session = requests.Session()
    connections = SenderConnections(session, _url(server), max_idle_s=0.0)
    assert not connections.prepare(due=time.perf_counter() + 0.25)
    assert _send(session, _url(server)) > 0


def test_a_server_that_is_gone_leaves_it_to_the_request() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    session = requests.Session()
    connections = SenderConnections(session, f"http://127.0.0.1:{port}/v1/x", max_idle_s=2.0)
    assert not connections.prepare(due=time.perf_counter() + 0.25)  # no raise
    with pytest.raises(requests.ConnectionError):
        session.post(f"http://127.0.0.1:{port}/v1/x", json={})
