"""The front door: an ASGI app for gunicorn's asyncio worker that reads requests, sheds, and runs Flask on threads.

Why not gunicorn's thread worker: there every request, even one refused at once, cost about 0.8 ms of the GIL in
gunicorn's own dispatching (measured: a do-nothing WSGI app tops out near 1,800 req/s on this 2-core machine, a
do-nothing app on its asyncio worker near 19,000), so a worker offered twice what it can serve spent most of its time
refusing and built a backlog where no code could see it (docs/soak.md). Here the event loop reads every request and
its body, and:

- a POST is shed with 503 + Retry-After when ``MAX_IN_FLIGHT`` POSTs are already being read, queued or run, or when
  it waited longer than ``MAX_QUEUE_WAIT_MS`` for a thread (checked by the thread before any app code runs); a shed
  POST's body is still read (and dropped) so the connection stays usable; GETs (probes, metrics) are never shed;
- anything else runs the Flask app, unchanged, on a pool of ``THREADS`` threads, with a WSGI environ built from the
  ASGI scope; ``app.client_gone`` in the environ says whether the client has since disconnected.

A POST whose Content-Length (or, chunked, whose body as read) exceeds ``MAX_REQUEST_BYTES`` gets the 413 here, before
any app code, and the rest of its body is read and dropped (within bounds) so that clients that write the whole body
before reading see the 413, not a reset. Sheds are counted in ``model_server_shed_total{signature="in-flight"|
"queue-wait"}`` and summarised in at most one WARNING line per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from app import metrics
from app.codecs.jsonio import dumps
from app.errors import Overloaded, PayloadTooLarge

if TYPE_CHECKING:
    from app.settings import FrontSettings

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

# Answers built from the one error hierarchy (status, headers, {"error": message}) once, not per request: the shed
# path is outside Flask, so app.web.errors cannot render them, but they say the same things.
_SHEDS = {
    "in-flight": Overloaded("server is overloaded (MAX_IN_FLIGHT requests in flight); retry shortly"),
    "queue-wait": Overloaded("server is overloaded (queued longer than MAX_QUEUE_WAIT_MS); retry shortly"),
}
_SHED_BODIES = {reason: dumps({"error": error.message}) for reason, error in _SHEDS.items()}
_INTERNAL = dumps({"error": "internal server error"})

#: After a 413, at most this much of the rest of the body is read (and dropped) before the connection closes.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0  # as app.web.errors says it for an unexpected error

# A response as the thread hands it back: status, headers, body.
Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class Front:
    """ASGI app around a WSGI app. One per worker process; create it after fork."""

    def __init__(
        self, wsgi_app: Callable[..., Iterable[bytes]], settings: FrontSettings, headers: list[tuple[str, str]]
    ) -> None:
        """``headers`` go on every shed answer (the WSGI app adds its own to everything else)."""
        self.wsgi_app = wsgi_app
        self.max_in_flight = settings.max_in_flight or 1 << 62
        self.max_queue_wait_s = settings.max_queue_wait_ms / 1000
        self.max_request_bytes = settings.max_request_bytes
        # The request threads: plain threads taking jobs from a C queue. ThreadPoolExecutor's Future, with a
        # Condition per job, cost a measurable share of the GIL at a thousand requests a second.
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        for index in range(settings.threads):
            threading.Thread(target=self._serve_jobs, name=f"request-{index}", daemon=True).start()
        self._in_flight = 0  # POSTs being read, queued or run; only touched on the event loop
        self._model_version = dict(headers).get("X-Model-Version", "")  # for the 413s counted here
        base = [(b"content-type", b"application/json"), *_encode(Overloaded.headers.items()), *_encode(headers)]
        self._shed_headers = {
            reason: [*base, (b"content-length", str(len(body)).encode())] for reason, body in _SHED_BODIES.items()
        }
        too_large = PayloadTooLarge(
            f"request body is larger than the limit of {self.max_request_bytes} bytes (MAX_REQUEST_BYTES)"
        )
        self._too_large_body = dumps({"error": too_large.message})
        self._too_large_headers = [
            *base[:1],
            *_encode(headers),
            (b"content-length", str(len(self._too_large_body)).encode()),
            (b"connection", b"close"),
        ]
        self._shed_lock = threading.Lock()  # sheds are counted on the loop and on pool threads
        self._shed_since_log = 0
        self._last_shed_log = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.monotonic()
        if scope["method"] != "POST":
            await self._serve(scope, receive, send, None)
        elif _declared_length(scope) > self.max_request_bytes:
            # Answered from Content-Length, before a byte of the body is read (and before any 100 Continue).
            await self._too_large(scope, receive, send, drain=not _expects_continue(scope))
        elif self._in_flight >= self.max_in_flight:
            # Read and drop the body, so the connection stays usable and the client reads its 503 (closing a
            # socket with unread data resets it, and a reset can discard the response before it is read).
            if await self._drain(receive, self.max_request_bytes):
                await _send(send, self._shed_reply("in-flight"))
        else:
            self._in_flight += 1  # counted from here: a body being read is held in memory too
            try:
                deadline = arrived + self.max_queue_wait_s if self.max_queue_wait_s else None
                await self._serve(scope, receive, send, deadline)
            finally:
                self._in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send, deadline: float | None) -> None:
        """Read the body, run the WSGI app on the pool, send what it answered (if the client is still there)."""
        body = await self._read_body(receive)
        if body is None:
            return  # the client went away mid-body: there is no one to answer
        if len(body) > self.max_request_bytes:  # a chunked body with no Content-Length ran past the limit
            await self._too_large(scope, receive, send, drain=True)
            return
        client_gone, watcher = _disconnect_check(receive)
        environ = _environ(scope, body, client_gone)
        try:
            reply = await self._on_pool(environ, deadline)
        finally:
            if watcher is not None:
                watcher.cancel()
        if not client_gone():
            await _send(send, reply)

    def _on_pool(self, environ: dict[str, Any], deadline: float | None) -> asyncio.Future[Reply]:
        """``_run`` on a pool thread, as a future of the event loop (one wake-up of the loop when it is done).

        Lighter than ``loop.run_in_executor``, which chains two futures per call: this is paid by every request.
        """
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Reply] = loop.create_future()

        def work() -> None:
            reply = self._run(environ, deadline)  # never raises: errors become a 500 reply
            # A closed loop (the worker is exiting) means nobody waits for this reply.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, result, reply)

        self._jobs.put(work)
        return result

    def _serve_jobs(self) -> None:
        while True:
            self._jobs.get()()  # a job never raises: _run turns every error into a 500 reply

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The body, cut at ``max_request_bytes`` + 1 bytes; None if the client disconnected first."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
            if size > self.max_request_bytes:
                return b"".join(chunks)[: self.max_request_bytes + 1]

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, drain: bool) -> None:
        """413, then read and drop the rest of the body (within bounds) before the connection is closed.

        Clients such as Python's urllib and requests write the whole body before they read the response; closing
        the socket while they still write resets the connection, and they see a broken pipe instead of the 413.
        Draining up to ``DRAIN_BYTES`` or ``DRAIN_SECONDS`` lets them finish. A client that sent
        ``Expect: 100-continue`` got no 100 and sends no body: there is nothing to drain.
        """
        reply = (PayloadTooLarge.status, [*self._too_large_headers, _request_id_header()], self._too_large_body)
        await _send(send, reply)
        metrics.REQUESTS.labels("(body over MAX_REQUEST_BYTES)", self._model_version, "413").inc()
        log.info("413: request body over MAX_REQUEST_BYTES=%d (%s %s)", self.max_request_bytes, *_what(scope))
        if drain:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drain(receive, DRAIN_BYTES), DRAIN_SECONDS)

    async def _drain(self, receive: Receive, limit: int | None = None) -> bool:
        """Read and drop the body (up to ``limit`` bytes); False if the client disconnected first."""
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            size += len(message.get("body", b""))
            if not message.get("more_body", False) or (limit is not None and size > limit):
                return True

    def _run(self, environ: dict[str, Any], deadline: float | None) -> Reply:
        """On a pool thread: shed if this waited too long, else call the WSGI app and collect its response."""
        if deadline is not None and time.monotonic() > deadline:
            return self._shed_reply("queue-wait")
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            started[:] = [status, headers]
            return _no_write

        try:
            result = self.wsgi_app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status, headers = started
            return int(status[:3]), _encode(headers), body
        except Exception:  # Flask turns errors into responses; this is a bug in that path, not a bad request
            log.exception("unhandled error in the WSGI app")
            return 500, [(b"content-type", b"application/json")], _INTERNAL

    def _shed_reply(self, reason: str) -> Reply:
        metrics.SHED.labels(reason).inc()
        now = time.monotonic()
        with self._shed_lock:
            self._shed_since_log += 1
            due = now - self._last_shed_log >= 1.0
            if due:
                count, self._shed_since_log, self._last_shed_log = self._shed_since_log, 0, now
        if due:
            log.warning("overloaded: shed %d requests with 503 in the last second (latest: %s)", count, reason)
        return Overloaded.status, [*self._shed_headers[reason], _request_id_header()], _SHED_BODIES[reason]


def _request_id_header() -> tuple[bytes, bytes]:
    return b"x-request-id", f"{random.getrandbits(128):032x}".encode()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length (0 when absent or unreadable: the body is then measured as it is read)."""
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.strip().isdigit() else 0


def _expects_continue(scope: Scope) -> bool:
    return (_header(scope, b"expect") or b"").strip().lower() == b"100-continue"


def _what(scope: Scope) -> tuple[str, str]:
    return scope["method"], scope["path"][:200]


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """WSGI headers as ASGI wants them: lower-case latin-1 bytes."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _no_write(data: bytes) -> None:
    raise RuntimeError("the WSGI write() callable is not supported")


async def _send(send: Send, reply: Reply) -> None:
    status, headers, body = reply
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _resolve(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():  # the request's task may have been cancelled (the worker is stopping)
        future.set_result(reply)


def _disconnect_check(receive: Receive) -> tuple[Callable[[], bool], asyncio.Future | None]:
    """A cheap "has the client gone away?" for a request whose body has been read, and the task behind it if any.

    gunicorn's ASGI body receiver (``receive``'s object, pinned gunicorn 27) already records a lost connection in
    ``_disconnected``; reading that costs nothing per request. With any other ASGI server, a task waits for the
    ``http.disconnect`` message, which is the next message once the body is complete.
    """
    receiver = getattr(receive, "__self__", None)
    if receiver is not None and isinstance(getattr(type(receiver), "_disconnected", None), property):
        return lambda: bool(receiver._disconnected), None
    gone = threading.Event()
    return gone.is_set, asyncio.ensure_future(_watch_disconnect(receive, gone))


async def _watch_disconnect(receive: Receive, gone: threading.Event) -> None:
    """After the body: the next message the server gives is ``http.disconnect``, when the client goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _environ(scope: Scope, body: bytes, client_gone: Callable[[], bool]) -> dict[str, Any]:
    """PEP 3333 environ for one ASGI HTTP request whose whole body (or its first MAX_REQUEST_BYTES + 1) is ``body``."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "app.client_gone": client_gone,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        if b"_" in raw_name:
            continue  # "X_Forwarded_For" would pose as "X-Forwarded-For" once both are HTTP_X_FORWARDED_FOR
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    # The body is all here: its length is exact, also for a chunked request. A body cut one byte past
    # MAX_REQUEST_BYTES thus reaches Flask as too long, and Flask answers 413 (werkzeug would silently truncate
    # a stream with no length instead).
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ
