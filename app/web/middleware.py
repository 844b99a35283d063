"""Per-request plumbing: request id, the served model's headers on every response, metrics, the access line.

Access lines are sampled (``ACCESS_LOG_SAMPLE``, default 1 %): formatting and writing a structured line costs
several percent of a worker at full load (docs/benchmarks.md), and on Cloud Run the platform's request log already
records every request with its status, latency and trace. Every error response (status >= 400) is logged.
"""

from __future__ import annotations

import logging
import random
import re
import time

from flask import Flask, Response, current_app, g, request

from app import metrics

log = logging.getLogger("app.access")

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id() -> str:
    """128 random bits as 32 hex digits. Ids need to be unique, not secret: no system call per request."""
    return f"{random.getrandbits(128):032x}"


def install(app: Flask, access_log_sample: float) -> None:
    """Register the before/after request hooks; ``access_log_sample`` is the share of successes logged."""
    app.before_request(_start)

    def finish(response: Response) -> Response:
        return _finish(response, access_log_sample)

    app.after_request(finish)


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _CLIENT_REQUEST_ID.fullmatch(incoming) else new_request_id()


def _finish(response: Response, sample: float) -> Response:
    # The version that answered (a /versions/ or /labels/ route may pick one other than the default).
    predictor = getattr(g, "predictor", None) or current_app.extensions["predictor"]
    request_id = getattr(g, "request_id", None) or new_request_id()
    response.headers["X-Request-Id"] = request_id
    response.headers["X-Model-Name"] = predictor.name
    response.headers["X-Model-Version"] = str(predictor.version)
    latency = time.perf_counter() - getattr(g, "started", time.perf_counter())
    route = getattr(g, "route", None) or (request.url_rule.rule if request.url_rule else "unmatched")
    metrics.REQUESTS.labels(route, str(predictor.version), str(response.status_code)).inc()
    metrics.REQUEST_LATENCY.labels(route).observe(latency)
    if response.status_code < 400 and (sample <= 0.0 or random.random() >= sample):
        return response
    log.info(
        "%s %s %d %.1fms",
        request.method,
        request.path,
        response.status_code,
        latency * 1000,
        extra={
            "json_fields": {
                "request_id": request_id,
                "model_name": predictor.name,
                "model_version": str(predictor.version),
                "status": response.status_code,
                "latency_ms": round(latency * 1000, 3),
            },
            "http_request": {
                "requestMethod": request.method,
                "requestUrl": request.url,
                "status": response.status_code,
                "latency": f"{latency:.6f}s",
                "userAgent": request.user_agent.string,
                "remoteIp": request.remote_addr,
                "requestSize": str(request.content_length or 0),
                "responseSize": str(response.calculate_content_length() or 0),
                "protocol": request.environ.get("SERVER_PROTOCOL"),
            },
        },
    )
    return response
