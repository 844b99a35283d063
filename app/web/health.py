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
    """Ready: the model is loaded and warmed up (503 before that and while shutting down)."""
    predictor = current_app.extensions["predictor"]
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    return json_response({"status": "ready", "model_name": predictor.name, "model_version": str(predictor.version)})
