"""The one way a route answers with JSON."""

from __future__ import annotations

from flask import Response

from app.codecs.jsonio import dumps


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``payload`` serialized with the service's JSON encoder (orjson, TF Serving's non-finite policy)."""
    return Response(dumps(payload), status=status, mimetype="application/json", headers=headers)
