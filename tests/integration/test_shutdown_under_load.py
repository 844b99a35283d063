"""SIGTERM under load: the real server (``python -m app``) drains, exits 0 and loses no request it had accepted.

Client threads keep POSTing on kept-alive connections (as Cloud Run's front end does) while the server is sent
SIGTERM. Each attempt records when its request was completely written to the socket (``sent_at``) and what came
back. A request written before SIGTERM was accepted: the server must answer it, with 200 (its connection is
open, so the bytes are in the server's socket buffer; the worker may be computing it, or holding it in its
queue for a thread). A request written after SIGTERM may legitimately fail, and is only classified:

- ``refused``: a new connection after the listener closed (Cloud Run routes nothing new after SIGTERM);
- ``new connection dropped``: a new connection that the kernel completed while the listener was still open but
  gunicorn no longer accepts; it is reset when the worker closes the listener at exit;
- ``keep-alive closed``: a request on a kept-alive connection that gunicorn closed: after SIGTERM it answers
  in-flight requests with ``Connection: close`` and closes idle connections when their keep-alive expires.

The structured log is then checked: it ends with gunicorn's clean shutdown, every line is whole JSON, and the
access lines are exactly the 200 responses the clients received (matched by ``X-Request-Id``).
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.integration.server import run_server

CLIENTS = 12  # more than THREADS (8): some accepted requests wait in gunicorn's queue when SIGTERM comes
SPIN_STEPS = 10_000  # tens of milliseconds per model call: several requests are always in flight
WARM_RESPONSES = 100  # answered requests before SIGTERM is sent
MAX_REQUESTS_PER_CLIENT = 2_000
LOAD_DEADLINE_S = 30.0  # the clients stop by then whatever happens
CLIENT_TIMEOUT_S = 15.0  # > GRACEFUL_TIMEOUT: a request the server drains is never cut off by the client
PATH = "/v1/models/toy:predict"
BODY = json.dumps({"signature_name": "spin", "instances": [SPIN_STEPS]}).encode()


@dataclass
class Attempt:
    request_id: str
    new_connection: bool
    started_at: float
    sent_at: float | None = None  # the whole request had been written to the socket
    done_at: float | None = None
    status: int | None = None
    body: bytes = b""
    connection_close: bool = False
    error: str = ""  # "<stage>: <exception>" with stage connect, send or response


def client(index: int, host: str, port: int, stop: threading.Event, deadline: float, out: list[Attempt]) -> None:
    """Send requests one after another, reusing the connection until the server closes it."""
    conn: http.client.HTTPConnection | None = None
    for seq in range(MAX_REQUESTS_PER_CLIENT):
        if stop.is_set() or time.monotonic() > deadline:
            break
        attempt = Attempt(f"c{index}-{seq}", conn is None, time.monotonic())
        stage = "connect"
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=CLIENT_TIMEOUT_S)
                conn.connect()
            stage = "send"
            conn.request(
                "POST",
                PATH,
                body=BODY,
                headers={"Content-Type": "application/json", "X-Request-Id": attempt.request_id},
            )
            attempt.sent_at = time.monotonic()
            stage = "response"
            response = conn.getresponse()
            attempt.body = response.read()
            attempt.status = response.status
            attempt.connection_close = response.will_close
        except (OSError, http.client.HTTPException) as exc:
            attempt.error = f"{stage}: {type(exc).__name__}"
        attempt.done_at = time.monotonic()
        out.append(attempt)
        if (attempt.error or attempt.connection_close) and conn is not None:
            conn.close()
            conn = None
        if attempt.error and stage == "connect":
            time.sleep(0.05)  # nothing listens any more: do not spin until told to stop
    if conn is not None:
        conn.close()


def classify(attempt: Attempt) -> str:
    """Why a request that got no response failed (only for requests written after SIGTERM)."""
    if attempt.error.startswith("connect"):
        return "refused"
    return "new connection dropped" if attempt.new_connection else "keep-alive closed"


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines()]


def test_sigterm_under_load_loses_no_accepted_request(toy_model_dir, tmp_path):
    env = {
        "MODEL_URI": str(toy_model_dir),
        "MODEL_NAME": "toy",
        "THREADS": "8",
        "GOOGLE_CLOUD_PROJECT": "test-proj",
        "ACCESS_LOG_SAMPLE": "1",  # every 200 is matched to its access line below
    }
    with run_server(env, tmp_path) as server:
        url = urlsplit(server.url)
        stop = threading.Event()
        attempts: list[list[Attempt]] = [[] for _ in range(CLIENTS)]
        deadline = time.monotonic() + LOAD_DEADLINE_S
        threads = [
            threading.Thread(target=client, args=(i, url.hostname, url.port, stop, deadline, attempts[i]), daemon=True)
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        try:
            while sum(a.status == 200 for mine in attempts for a in list(mine)) < WARM_RESPONSES:
                assert time.monotonic() < deadline - 20, "the server did not answer the warm-up load in time"
                assert server.process.poll() is None, server.log()[-3000:]
                time.sleep(0.05)
            sigterm_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=15)
            exit_s = time.monotonic() - sigterm_at
            time.sleep(0.5)  # let the clients meet the closed port
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT_S + 5)
        assert not any(thread.is_alive() for thread in threads)
        log, stderr = server.log(), server.stderr()

    done = [a for mine in attempts for a in mine]
    answered = [a for a in done if a.status is not None]
    failed = [a for a in done if a.status is None]
    accepted_then_failed = [a for a in failed if (a.sent_at or a.done_at) < sigterm_at]
    in_flight = [a for a in answered if a.sent_at < sigterm_at < a.done_at]
    after = dict(Counter(classify(a) for a in failed))
    summary = (
        f"{len(done)} requests, {len(answered)} answered ({len(in_flight)} in flight at SIGTERM), "
        f"failed after SIGTERM: {after or 'none'}, exit {code} after {exit_s:.1f}s"
    )
    print(summary)

    assert code == 0 and exit_s < 10, summary
    assert not accepted_then_failed, f"{[(a.request_id, a.error) for a in accepted_then_failed]}; {summary}"
    assert {a.status for a in answered} == {200}, summary
    assert all(json.loads(a.body) == {"predictions": [SPIN_STEPS]} for a in answered)
    assert in_flight, f"no request was in flight when SIGTERM arrived: the test proved nothing; {summary}"
    assert any(a.connection_close for a in answered if a.done_at > sigterm_at), "draining answers close the connection"

    # The log: whole JSON lines to the end, a clean shutdown last, one access line per 200 the clients received.
    assert log.endswith("\n")
    entries = json_lines(log)
    assert entries[-1]["message"] == "Shutting down: Master", entries[-3:]
    assert any(e["message"].startswith("Handling signal: term") for e in entries)
    assert not [e for e in entries if e["severity"] in ("ERROR", "CRITICAL")]
    assert "Traceback" not in stderr, stderr[-3000:]
    logged_ok = sorted(
        e["request_id"]
        for e in entries
        if e.get("httpRequest", {}).get("requestUrl", "").endswith(PATH) and e["status"] == 200
    )
    received_ok = sorted(a.request_id for a in answered)
    assert len(logged_ok) == len(received_ok), summary
    assert logged_ok == received_ok
