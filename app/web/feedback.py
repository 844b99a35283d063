"""Ground truth: ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:feedback`` (dispatched by ``app.web.tfserving``)
and ``POST /v2/models/{name}[/versions/{v}]/feedback`` (``app.web.v2``), both with
``{"request_id": "<X-Request-Id of the prediction>", "labels": [one true value per row]}``.

Each valid one becomes a feedback entry on stdout (``app.prediction_log``), whatever PREDICTION_LOG_SAMPLE is, and
is answered ``200 {}``; nothing is stored in the server. Authorized like predictions (``app.web.auth`` guards every
route but the probes). docs/prediction-logs.md explains the choice of route and body.
"""

from __future__ import annotations

from flask import Response, current_app, request

from app.prediction_log import PredictionLog
from app.prediction_log.feedback import parse_feedback
from app.predictor import Predictor
from app.web.body import parse_json, read_body, request_limits
from app.web.responses import json_response


def receive(predictor: Predictor) -> Response:
    """Validate the feedback for a prediction of ``predictor``'s model, write its entry, answer ``{}``."""
    prediction_log: PredictionLog = current_app.extensions["prediction_log"]
    body = parse_json(read_body(request))
    feedback = parse_feedback(body, request_limits().max_instances, prediction_log.max_bytes)
    prediction_log.feedback(request_id=feedback.request_id, model_name=predictor.name, labels=feedback.labels)
    return json_response({})
