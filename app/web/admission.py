"""Admission control: shed requests at the door when too many are already inside the app.

Under CPU-bound overload the bottleneck is decoding requests (under the GIL), not the model, so the batching queue
never fills; and with gunicorn's gthread worker, requests beyond ``THREADS`` wait in gunicorn's own unbounded queue
where no app code sees them. With ``MAX_IN_FLIGHT`` set (and ``THREADS`` above it), a POST that would be the
N+1-th inside the app is answered 503 + Retry-After by a plain WSGI wrapper, before Flask, routing, body decoding
or a per-request log line: a shed costs a small fraction of a prediction, which is what lets a worker keep up when
offered twice what it can serve. Sheds are counted in ``model_server_shed_total{signature="in-flight"}`` and
summarised in at most one WARNING line per second. GETs (probes, metrics) are never shed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from app import metrics

log = logging.getLogger(__name__)

_BODY = b'{"error": "server is overloaded (MAX_IN_FLIGHT requests in flight); retry shortly"}'


class AdmissionMiddleware:
    """WSGI wrapper that refuses POSTs beyond ``limit`` concurrent ones."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], limit: int, headers: list[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.limit = limit
        self._headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(_BODY))),
            ("Retry-After", "1"),
            *headers,
        ]
        self._lock = threading.Lock()
        self._inside = 0
        self._shed_since_log = 0
        self._last_log = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        with self._lock:
            admitted = self._inside < self.limit
            if admitted:
                self._inside += 1
        if not admitted:
            return self._shed(start_response)
        try:
            # Flask builds the whole response body before returning it, so leaving here is leaving the app.
            return self.wsgi_app(environ, start_response)
        finally:
            with self._lock:
                self._inside -= 1

    def _shed(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        metrics.SHED.labels("in-flight").inc()
        now = time.monotonic()
        with self._lock:
            self._shed_since_log += 1
            due = now - self._last_log >= 1.0
            if due:
                count, self._shed_since_log, self._last_log = self._shed_since_log, 0, now
        if due:
            log.warning("overloaded: shed %d requests with 503 (MAX_IN_FLIGHT=%d)", count, self.limit)
        request_id = ("X-Request-Id", f"{random.getrandbits(128):032x}")
        start_response("503 Service Unavailable", [*self._headers, request_id])
        return [_BODY]


def install(app: Any, max_in_flight: int, model_name: str, model_version: int) -> None:
    """Wrap ``app.wsgi_app``; nothing at all when ``max_in_flight`` is 0."""
    if max_in_flight <= 0:
        return
    headers = [("X-Model-Name", model_name), ("X-Model-Version", str(model_version))]
    app.wsgi_app = AdmissionMiddleware(app.wsgi_app, max_in_flight, headers)
