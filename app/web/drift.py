"""``GET /drift``: a fresh KS test of this worker's recent inputs against the training baseline, as JSON."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from app.drift import DriftMonitor
from app.web.responses import json_response

bp = Blueprint("drift", __name__)


@bp.get("/drift")
def drift() -> Response:
    """Always 200: ``enabled`` is false without a baseline, and ``p_value`` null until enough samples."""
    monitor = getattr(current_app.extensions["predictor"], "drift", None)
    if monitor is None:  # the model has not finished loading, or this server does not monitor drift
        monitor = DriftMonitor(None)
    return json_response(monitor.report())
