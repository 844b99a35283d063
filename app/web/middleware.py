"""Per-request plumbing: request id, the served model's headers on every response, one access log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from app import metrics

log = logging.getLogger("app.access")

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def install(app: Flask) -> None:
    """Register the before/after request hooks."""
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _CLIENT_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    predictor = current_app.extensions["predictor"]
    request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
    response.headers["X-Request-Id"] = request_id
    response.headers["X-Model-Name"] = predictor.name
    response.headers["X-Model-Version"] = str(predictor.version)
    latency = time.perf_counter() - getattr(g, "started", time.perf_counter())
    route = getattr(g, "route", None) or (request.url_rule.rule if request.url_rule else "unmatched")
    metrics.REQUESTS.labels(route, str(predictor.version), str(response.status_code)).inc()
    metrics.REQUEST_LATENCY.labels(route).observe(latency)
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
