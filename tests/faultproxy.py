"""A fault-injecting HTTP reverse proxy for storage tests: real client -> proxy -> gcp-storage-emulator.

Point the code under test at it with ``STORAGE_EMULATOR_HOST=<proxy.url>`` (the ``fault_proxy`` fixture does)::

    fault_proxy.add(status(503), path="saved_model.pb", times=2)  # its first two downloads get a 503
    fetch_model(...)
    assert [r.status for r in fault_proxy.requests("saved_model.pb")] == [503, 503, 200]

Rules are tried in the order they were added; the first whose method and path substring match and that has
uses left is applied to the request (and used up). The path includes the query string, so ``"alt=media"``
selects object downloads and ``"/o?"`` listings. Bodies are buffered whole: test objects are small.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.fixtures_gcs import GcsHelper

MEDIA = "alt=media"
"""Path substring of object downloads (``/download/storage/v1/b/<bucket>/o/<name>?...&alt=media``)."""
LISTING = "/o?"
"""Path substring of object listings (``/storage/v1/b/<bucket>/o?prefix=...``)."""

# Headers that describe one hop, not the message: the proxy sets its own (it buffers, so no chunking).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
_UPSTREAM_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Fault:
    """What to do to a request instead of (or on top of) forwarding it. Build one with the functions below."""

    kind: str
    code: int = 0
    seconds: float = 0.0
    n_bytes: int = 0

    def __str__(self) -> str:
        return f"{self.kind}({self.code})" if self.code else self.kind


def status(code: int) -> Fault:
    """Answer ``code`` with a GCS-style JSON error body; the emulator never sees the request."""
    return Fault("status", code=code)


def missing() -> Fault:
    """Answer 404 as GCS does for an object that does not exist."""
    return Fault("status", code=404)


def delay(seconds: float) -> Fault:
    """Sleep before forwarding, so a client with a shorter timeout gives up before any response byte."""
    return Fault("delay", seconds=seconds)


def stall(n_bytes: int, seconds: float) -> Fault:
    """Send the headers and the first ``n_bytes`` of the body, sleep, then the rest: a timeout mid-body."""
    return Fault("stall", seconds=seconds, n_bytes=n_bytes)


def truncate(n_bytes: int) -> Fault:
    """Send the original headers (Content-Length included) but only ``n_bytes`` of the body, then close."""
    return Fault("truncate", n_bytes=n_bytes)


def corrupt() -> Fault:
    """Flip the bits of one byte in the middle of the body: same length, wrong content."""
    return Fault("corrupt")


def drop() -> Fault:
    """Close the connection without sending any response."""
    return Fault("drop")


@dataclass
class Rule:
    fault: Fault
    method: str | None
    path: str
    times: int | None  # uses left; None: every matching request

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and self.path in path and self.times != 0


@dataclass
class Request:
    """One request the proxy received, in arrival order."""

    method: str
    path: str
    fault: str | None
    status: int | None = None
    """The status sent; None until sent, and for ``drop``."""


class FaultProxy:
    """The proxy. A context manager: the server thread runs inside the ``with`` block and always stops."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: list[Rule] = []
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # wakes sleeping faults so stop() is quick
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the value for ``STORAGE_EMULATOR_HOST``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, fault: Fault, *, path: str = "", method: str | None = "GET", times: int | None = None) -> None:
        """Apply ``fault`` to the first ``times`` requests (all when None) with ``method`` and ``path`` in the path."""
        with self._lock:
            self._rules.append(Rule(fault, method, path, times))

    def clear(self) -> None:
        """Remove every rule; requests are forwarded untouched from now on."""
        with self._lock:
            self._rules.clear()

    def requests(self, path: str = "", method: str | None = None) -> list[Request]:
        """Requests received so far whose path contains ``path`` (and with ``method``, if given)."""
        with self._lock:
            return [r for r in self._log if path in r.path and method in (None, r.method)]

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # notice shutdown() quickly

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _arrived(self, method: str, path: str) -> tuple[Request, Fault | None]:
        """Log the request and pick (and use up) the first rule matching it."""
        with self._lock:
            rule = next((r for r in self._rules if r.matches(method, path)), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
            fault = rule.fault if rule else None
            request = Request(method, path, str(fault) if fault else None)
            self._log.append(request)
            return request, fault

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream; return its status, end-to-end headers and whole body."""
        connection = http.client.HTTPConnection(*self._upstream, timeout=_UPSTREAM_TIMEOUT_SECONDS)
        try:
            # The Host header is passed through, so links the emulator builds point back at the proxy.
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
            return response.status, kept, response.read()
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck on a dead client never blocks the test run's exit

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as with GCS: a dropped connection is one the client had pooled
    timeout = 10  # idle keep-alive connections are closed after this, so handler threads end
    server: _Server

    def do_GET(self) -> None:
        proxy = self.server.proxy
        # Only Content-Length request bodies: the storage client never sends chunked ones.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request, fault = proxy._arrived(self.command, self.path)
        kind = fault.kind if fault else "forward"
        if kind == "delay" and proxy._stopping.wait(fault.seconds):
            kind = "drop"  # the proxy is stopping: forward nothing more
        if kind == "drop":
            self.close_connection = True  # the socket is closed without a response
            return
        if kind == "status":
            message = f"injected fault: HTTP {fault.code}"
            payload = json.dumps({"error": {"code": fault.code, "message": message, "errors": []}}).encode()
            code, headers = fault.code, [("Content-Type", "application/json")]
        else:
            code, headers, payload = proxy._forward(self, body)
        if kind == "corrupt" and payload:
            middle = len(payload) // 2
            payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
        request.status = code
        try:
            self._respond(code, headers, payload, fault)
        except OSError:  # the client gave up (a timeout fault did its job): nothing more to send it
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _respond(self, code: int, headers: list[tuple[str, str]], payload: bytes, fault: Fault | None) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))  # the full length, even when truncating
        self.end_headers()
        if fault and fault.kind == "truncate":
            self.wfile.write(payload[: fault.n_bytes])
            self.close_connection = True
        elif fault and fault.kind == "stall":
            self.wfile.write(payload[: fault.n_bytes])
            self.wfile.flush()
            self.server.proxy._stopping.wait(fault.seconds)
            self.wfile.write(payload[fault.n_bytes :])
        else:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are logged in FaultProxy.requests(), not printed


@pytest.fixture
def fault_proxy(gcs: GcsHelper, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A proxy in front of the test's emulator; ``STORAGE_EMULATOR_HOST`` points at it for the code under test.

    ``gcs.client`` (uploads, checks) keeps talking to the emulator directly, past any faults.
    """
    with FaultProxy(gcs.emulator_url) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        yield proxy
