"""Reading request bodies: content type, size and JSON parsing, with the protocols' error codes."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Request, current_app

from app.codecs.jsonio import loads
from app.codecs.limits import Limits
from app.errors import InvalidInput, UnsupportedMediaType

# curl -d sends application/x-www-form-urlencoded, and TF Serving's documented examples rely on it: accept it.
_JSON_TYPES = {"", "application/json", "application/x-www-form-urlencoded", "text/json"}
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit and int() also take "²", "٣" and "1_0"


def install_limits(app: Flask, limits: Limits) -> None:
    """Make ``limits`` the request limits of ``app`` (read by ``request_limits`` while handling a request)."""
    app.extensions["limits"] = limits


def request_limits() -> Limits:
    """The limits of the current app (see ``install_limits``)."""
    return current_app.extensions["limits"]


def _media_type(request: Request) -> str:
    return (request.mimetype or "").lower()


def read_body(request: Request, binary_ok: bool = False) -> bytes:
    """The body's bytes, after checking that its Content-Type is JSON (or, with ``binary_ok``, octet-stream)."""
    media = _media_type(request)
    allowed = media in _JSON_TYPES or media.endswith("+json") or (binary_ok and media == "application/octet-stream")
    if not allowed:
        raise UnsupportedMediaType(f"unsupported Content-Type {media!r}: send application/json")
    return request.get_data(cache=False)


def parse_json(raw: bytes) -> Any:
    """A JSON request body (not empty) as a document, within the app's nesting limit."""
    if not raw:
        raise InvalidInput("request body is empty: send a JSON object")
    return loads(raw, request_limits())


def read_json(request: Request, binary_ok: bool = False, binary_header: str = "") -> tuple[Any, bytes]:
    """Parse the body as JSON; return (document, trailing binary section).

    With ``binary_ok``, a ``binary_header`` request header splits the body into a JSON header and raw bytes
    (the V2 binary tensor extension), and ``application/octet-stream`` is accepted.
    """
    raw = read_body(request, binary_ok)
    limits = request_limits()
    header_length = request.headers.get(binary_header) if binary_ok and binary_header else None
    if header_length is None:
        return parse_json(raw), b""
    if not _DIGITS.fullmatch(header_length.strip()):
        raise InvalidInput(f"{binary_header} must be a non-negative integer")
    split = int(header_length)
    if not 0 < split <= len(raw):
        raise InvalidInput(f"{binary_header}={split} does not fit a body of {len(raw)} bytes")
    return loads(raw[:split], limits), raw[split:]
