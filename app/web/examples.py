"""TF Serving's ``:classify`` and ``:regress`` REST APIs: HTTP in and out. The JSON is ``app.codecs.examples``; the
signature checks and the model call are ``app.classify``."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from app import classify as tasks
from app.codecs.examples import ExamplesRequest, decode_examples, encode_classification, encode_regression
from app.errors import ModelNotReady
from app.predictor import Predictor
from app.web import prediction_log
from app.web.body import parse_json, read_body, request_limits
from app.web.disconnect import client_gone

# TF Serving's --enable_signature_method_name_check, whose default is off: then any signature with the right inputs
# and outputs serves :classify / :regress (TF2 exports mark every signature "predict").
CHECK_METHOD_NAME = False


def classify(predictor: Predictor) -> Response:
    """POST ``{"signature_name", "context", "examples"}`` -> ``{"results": [[[label, score], ...], ...]}``."""
    body, decoded = _decode(predictor)
    result = tasks.classify(
        predictor, decoded.signature_name, decoded.examples, CHECK_METHOD_NAME, client_gone(request.environ)
    )
    response = _json(encode_classification(result.labels, result.scores))
    if prediction_log.sampled():
        outputs = {tasks.CLASSES: result.labels, tasks.SCORES: result.scores}
        prediction_log.log_examples(predictor, body, decoded, {k: v for k, v in outputs.items() if v is not None})
    return response


def regress(predictor: Predictor) -> Response:
    """POST ``{"signature_name", "context", "examples"}`` -> ``{"results": [value, ...]}``."""
    body, decoded = _decode(predictor)
    values = tasks.regress(
        predictor, decoded.signature_name, decoded.examples, CHECK_METHOD_NAME, client_gone(request.environ)
    )
    response = _json(encode_regression(values))
    if prediction_log.sampled():
        prediction_log.log_examples(predictor, body, decoded, {tasks.OUTPUTS: values})
    return response


def _decode(predictor: Predictor) -> tuple[Any, ExamplesRequest]:
    """The parsed body (kept for the prediction log) and the decoded request."""
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    body = parse_json(read_body(request))
    # The examples, with the context copied into each, are bounded like the body that carried them.
    return body, decode_examples(body, request_limits(), current_app.config["MAX_CONTENT_LENGTH"])


def _json(body: bytes) -> Response:
    return Response(body, mimetype="application/json")
