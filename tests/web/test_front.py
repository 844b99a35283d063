"""The ASGI front door (app/web/front.py): WSGI translation, shedding, body limits and disconnects.

These drive the real Front around the real Flask app and toy SavedModel through the ASGI interface in an event
loop, the way gunicorn's asyncio worker calls it; tests/integration runs the same code under real gunicorn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import pytest

from app import create_asgi_app
from app.settings import FrontSettings, Settings
from app.web.front import Front, _environ

SLOW = orjson.dumps({"signature_name": "spin", "instances": [300_000]})
FAST = orjson.dumps({"instances": [[1, 2, 3]]})
TINY = FrontSettings(threads=1, max_in_flight=0, max_queue_wait_ms=0, max_request_bytes=10)


def make_front(toy_model_dir, toy_predictor, **env: str) -> Front:
    settings = Settings.from_env({"MODEL_URI": str(toy_model_dir), "MAX_BATCH_SIZE": "0", **env})
    return create_asgi_app(settings, toy_predictor)


def scope(method: str = "POST", path: str = "/predict", headers: list | None = None, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers if headers is not None else [(b"content-type", b"application/json")],
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }


class Exchange:
    """One request as an ASGI server would present it: body chunks, then (optionally) a disconnect."""

    def __init__(self, chunks: list[bytes], disconnect_mid_body: bool = False) -> None:
        self.chunks = list(chunks)
        self.disconnect_mid_body = disconnect_mid_body
        self.received = 0
        self.disconnected = asyncio.Event()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.received < len(self.chunks):
            self.received += 1
            if self.disconnect_mid_body and self.received == len(self.chunks):
                return {"type": "http.disconnect"}
            more = self.received < len(self.chunks)
            return {"type": "http.request", "body": self.chunks[self.received - 1], "more_body": more}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> Any:
        return orjson.loads(self.sent[1]["body"])


async def call(front: Front, request_scope: dict, body: bytes = b"", **kwargs: Any) -> Exchange:
    exchange = Exchange([body], **kwargs)
    await front(request_scope, exchange.receive, exchange.send)
    return exchange


def test_a_post_runs_the_flask_app(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor)
    done = asyncio.run(call(front, scope(), FAST))
    assert done.status == 200 and done.body == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}
    assert done.headers[b"x-model-version"] == b"7" and len(done.headers[b"x-request-id"]) == 32
    assert done.headers[b"content-type"] == b"application/json"
    metadata = asyncio.run(call(front, scope("GET", "/v1/models/toy", headers=[])))
    assert metadata.status == 200 and metadata.body["model_version_status"][0]["version"] == "7"


def test_environ_follows_pep_3333():
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
        (b"x-a", b"1"),
        (b"x-a", b"2"),
        (b"x_forwarded_for", b"10.0.0.1"),  # would pose as X-Forwarded-For: dropped, as gunicorn does
        (b"authorization", b"Bearer t"),
    ]
    request_scope = scope(path="/v1/models/caf\u00e9", headers=headers, query=b"a=1&b=%20")
    request_scope["root_path"] = "/api"
    environ = _environ(request_scope, b"{}", lambda: False)
    assert environ["PATH_INFO"] == "/v1/models/caf\u00e9".encode().decode("latin-1")
    assert environ["SCRIPT_NAME"] == "/api" and environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["CONTENT_TYPE"] == "application/json" and environ["CONTENT_LENGTH"] == "2"
    assert environ["HTTP_X_A"] == "1,2" and environ["HTTP_AUTHORIZATION"] == "Bearer t"
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert environ["REMOTE_ADDR"] == "127.0.0.1" and environ["SERVER_PORT"] == "8080"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1" and environ["wsgi.input"].read() == b"{}"
    chunked = _environ(scope(headers=[(b"transfer-encoding", b"chunked")]), b"[1]", lambda: False)
    assert chunked["CONTENT_LENGTH"] == "3", "the body is buffered, so its length is known"


def test_sheds_beyond_max_in_flight_but_never_a_get(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor, MAX_IN_FLIGHT="1")

    async def scenario() -> tuple[Exchange, Exchange, Exchange, Exchange]:
        slow = asyncio.ensure_future(call(front, scope(), SLOW))
        while front._in_flight == 0:
            await asyncio.sleep(0.001)
        shed = Exchange([FAST[:5], FAST[5:]])
        await front(scope(), shed.receive, shed.send)
        probe = await call(front, scope("GET", "/readyz", headers=[]))
        return await slow, shed, probe, await call(front, scope(), FAST)

    slow, shed, probe, after = asyncio.run(scenario())
    assert slow.status == 200
    assert shed.status == 503 and shed.headers[b"retry-after"] == b"1" and "MAX_IN_FLIGHT" in shed.body["error"]
    assert shed.headers[b"x-model-version"] == b"7" and len(shed.headers[b"x-request-id"]) == 32
    assert shed.received == 2, "a shed request's body is read (and dropped), so the connection stays usable"
    assert probe.status == 200
    assert after.status == 200, "the limit frees up when the request leaves"


def test_sheds_what_waited_longer_than_max_queue_wait(toy_model_dir, toy_predictor, caplog):
    front = make_front(toy_model_dir, toy_predictor, THREADS="1", MAX_QUEUE_WAIT_MS="50")

    async def scenario() -> tuple[Exchange, Exchange]:
        slow = asyncio.ensure_future(call(front, scope(), SLOW))
        while front._in_flight == 0:
            await asyncio.sleep(0.001)
        queued = asyncio.ensure_future(call(front, scope(), FAST))  # waits for the only thread
        return await slow, await queued

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="app.web.front"):
        slow, queued = asyncio.run(scenario())
    assert time.monotonic() - started > 0.05, "the slow request held the only thread longer than the budget"
    assert slow.status == 200
    assert queued.status == 503 and "MAX_QUEUE_WAIT_MS" in queued.body["error"]
    assert "latest: queue-wait" in caplog.text
    assert asyncio.run(call(front, scope(), FAST)).status == 200, "a request that did not wait is served"


class Recording(Exchange):
    """An exchange that notes how many body chunks had been read when the response started."""

    read_before_response: int | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if self.read_before_response is None:
            self.read_before_response = self.received
        await super().send(message)


def test_a_chunked_body_over_the_limit_is_413_then_drained(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor, MAX_REQUEST_BYTES="1024")
    exchange = Recording([b"[" * 800, b"[" * 800, b"[" * 800, b"]"])
    asyncio.run(front(scope(), exchange.receive, exchange.send))
    assert exchange.status == 413 and "MAX_REQUEST_BYTES" in exchange.body["error"]
    assert exchange.read_before_response == 2, "answered once the body passed the limit"
    assert exchange.received == 4, "then read the rest, so the client can finish writing and read the 413"
    assert exchange.headers[b"connection"] == b"close" and exchange.headers[b"x-model-version"] == b"7"


def test_a_declared_length_over_the_limit_is_413_before_reading(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor, MAX_REQUEST_BYTES="1024")
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2401")]
    exchange = Recording([b"[" * 800, b"[" * 800, b"[" * 800, b"]"])
    asyncio.run(front(scope(headers=headers), exchange.receive, exchange.send))
    assert exchange.status == 413 and exchange.read_before_response == 0
    assert exchange.received == 4
    assert front._in_flight == 0, "a refused body is not counted as in flight"


def test_expect_100_continue_gets_the_413_and_nothing_is_read(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor, MAX_REQUEST_BYTES="1024")
    headers = [(b"content-length", b"4096"), (b"expect", b"100-continue")]
    exchange = Recording([b"x" * 4096])
    asyncio.run(front(scope(headers=headers), exchange.receive, exchange.send))
    assert exchange.status == 413 and exchange.received == 0, "reading would have sent 100 Continue"


def test_draining_stops_at_its_bound(toy_model_dir, toy_predictor, monkeypatch):
    monkeypatch.setattr("app.web.front.DRAIN_BYTES", 2000)
    front = make_front(toy_model_dir, toy_predictor, MAX_REQUEST_BYTES="1024")
    headers = [(b"content-length", b"100000")]
    exchange = Recording([b"x" * 1000] * 100)
    asyncio.run(front(scope(headers=headers), exchange.receive, exchange.send))
    assert exchange.status == 413 and exchange.received == 3, "stopped after passing 2000 bytes"


def test_no_answer_to_a_client_that_left(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor)
    mid_body = asyncio.run(call(front, scope(), FAST, disconnect_mid_body=True))
    assert mid_body.sent == []

    async def leaves_while_computing() -> Exchange:
        exchange = Exchange([SLOW])
        task = asyncio.ensure_future(front(scope(), exchange.receive, exchange.send))
        await asyncio.sleep(0.05)
        exchange.disconnected.set()
        await task
        return exchange

    assert asyncio.run(leaves_while_computing()).sent == []


def test_an_exception_escaping_the_wsgi_app_is_a_500_and_logged(caplog):
    def broken(environ, start_response):
        raise RuntimeError("bug")

    front = Front(broken, TINY, [])
    with caplog.at_level(logging.ERROR, logger="app.web.front"):
        done = asyncio.run(call(front, scope("GET", "/", headers=[])))
    assert done.status == 500 and done.body == {"error": "internal server error"}, "what app.web.errors says"
    assert "unhandled error in the WSGI app" in caplog.text and "RuntimeError: bug" in caplog.text


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_other_scopes_are_answered(kind):
    front = Front(lambda e, s: [], TINY, [])
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(front({"type": kind}, receive, send))
    expected = {
        "lifespan": ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        "websocket": ["websocket.close"],
    }[kind]
    assert [m["type"] for m in sent] == expected


def test_zero_turns_both_bounds_off(toy_model_dir, toy_predictor):
    front = make_front(toy_model_dir, toy_predictor, THREADS="1", MAX_IN_FLIGHT="0", MAX_QUEUE_WAIT_MS="0")

    async def scenario() -> list[Exchange]:
        slow = asyncio.ensure_future(call(front, scope(), SLOW))
        while front._in_flight == 0:
            await asyncio.sleep(0.001)
        queued = [asyncio.ensure_future(call(front, scope(), FAST)) for _ in range(3)]
        return [await slow, *[await q for q in queued]]

    assert [e.status for e in asyncio.run(scenario())] == [200, 200, 200, 200], "waited for the thread, not shed"
