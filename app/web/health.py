"""Liveness and readiness routes for Cloud Run, Kubernetes and Vertex AI probes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.errors import ModelNotReady
from app.web.responses import json_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers HTTP. Never depends on the model."""
    return json_response({"status": "alive"})


def readyz() -> Response:
    """Ready: every served version is loaded and warmed up (503 before that and while shutting down).

    The body names the default version, the one a request without a version gets."""
    served = current_app.extensions["served"]
    if not served.ready:
        raise ModelNotReady(f"model {served.name!r} is not ready")
    return json_response({"status": "ready", "model_name": served.name, "model_version": str(served.default.version)})
