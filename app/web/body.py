"""Reading request bodies: content type, size and JSON parsing, with the protocols' error codes."""

from __future__ import annotations

from typing import Any

from flask import Request

from app.codecs.jsonio import loads
from app.errors import InvalidInput, UnsupportedMediaType

# curl -d sends application/x-www-form-urlencoded, and TF Serving's documented examples rely on it: accept it.
_JSON_TYPES = {"", "application/json", "application/x-www-form-urlencoded", "text/json"}


def _media_type(request: Request) -> str:
    return (request.mimetype or "").lower()


def read_json(request: Request, binary_ok: bool = False, binary_header: str = "") -> tuple[Any, bytes]:
    """Parse the body as JSON; return (document, trailing binary section).

    With ``binary_ok``, a ``binary_header`` request header splits the body into a JSON header and raw bytes
    (the V2 binary tensor extension), and ``application/octet-stream`` is accepted.
    """
    media = _media_type(request)
    allowed = media in _JSON_TYPES or media.endswith("+json") or (binary_ok and media == "application/octet-stream")
    if not allowed:
        raise UnsupportedMediaType(f"unsupported Content-Type {media!r}: send application/json")
    raw = request.get_data(cache=False)
    header_length = request.headers.get(binary_header) if binary_ok and binary_header else None
    if header_length is None:
        if not raw:
            raise InvalidInput("request body is empty: send a JSON object")
        return loads(raw), b""
    try:
        split = int(header_length)
    except ValueError:
        raise InvalidInput(f"{binary_header} must be an integer") from None
    if not 0 < split <= len(raw):
        raise InvalidInput(f"{binary_header}={split} does not fit a body of {len(raw)} bytes")
    return loads(raw[:split]), raw[split:]
