"""``GET /metrics``: Prometheus text exposition, aggregated over gunicorn workers."""

from __future__ import annotations

from flask import Blueprint, Response

from app.metrics import exposition

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)
