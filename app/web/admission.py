"""Admission control: shed requests at the door when too many are already inside the app.

Under CPU-bound overload the bottleneck is decoding requests (under the GIL), not the model, so the batching queue
never fills; and with gunicorn's gthread worker, requests beyond ``THREADS`` wait in gunicorn's own unbounded queue
where no app code sees them. With ``MAX_IN_FLIGHT`` set (and ``THREADS`` above it), a request that would be the
N+1-th inside the app is answered 503 + Retry-After at once, before its body is read: latency stays bounded and the
shed costs almost nothing. Probes, metrics and other GETs are never shed.
"""

from __future__ import annotations

import threading

from flask import Flask, g, request

from app import metrics
from app.errors import Overloaded


def install(app: Flask, max_in_flight: int) -> None:
    """Register the admission hooks; nothing at all when ``max_in_flight`` is 0."""
    if max_in_flight <= 0:
        return
    lock = threading.Lock()
    inside = 0

    @app.before_request
    def _admit() -> None:
        nonlocal inside
        if request.method != "POST":
            return
        with lock:
            if inside >= max_in_flight:
                metrics.SHED.labels("in-flight").inc()
                raise Overloaded(f"server is overloaded ({inside} requests in flight); retry shortly")
            inside += 1
        g.admitted = True

    @app.teardown_request
    def _leave(exc: BaseException | None) -> None:
        nonlocal inside
        if g.pop("admitted", False):
            with lock:
                inside -= 1
