"""Every error becomes ``{"error": "<message>"}`` here, in one place. 5xx bodies say nothing internal."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from app.errors import ServingError
from app.web.responses import json_response

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    404: "not found: no such route (see GET /openapi.json)",
    405: "method not allowed for this route",
    413: "request body is too large",
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error response."""
    return json_response({"error": message}, status, headers)


def register_error_handlers(app: Flask) -> None:
    """Map the service's errors, werkzeug's HTTP errors and anything unexpected to JSON responses."""

    @app.errorhandler(ServingError)
    def _serving_error(exc: ServingError) -> Response:
        if exc.status >= 500 and not exc.headers.get("Retry-After"):
            log.error("request failed: %s", exc.message)
        return error_response(exc.status, exc.message, exc.headers or None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = _HTTP_MESSAGES.get(status) or (exc.description or exc.name)
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is larger than the limit of {limit} bytes (MAX_REQUEST_BYTES)"
        headers = {"Allow": ", ".join(sorted(exc.valid_methods))} if getattr(exc, "valid_methods", None) else None
        return error_response(status, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled error while serving a request", exc_info=exc)
        return error_response(500, "internal server error")
