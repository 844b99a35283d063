"""TF Serving's REST API (``/v1/models/...``) and the plain ``/predict`` route, in TF Serving's formats."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, g, request

from app.codecs.tfserving import decode_dense, decode_predict, encode_predict
from app.errors import InvalidInput, ModelNotReady
from app.predictor import Predictor
from app.web import examples, feedback, prediction_log
from app.web.body import parse_json, read_body, request_limits
from app.web.disconnect import client_gone
from app.web.responses import json_response

bp = Blueprint("tfserving", __name__)

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def predict() -> Response:
    """POST a TF Serving predict request to the served model (``/predict`` and Vertex AI's predict route)."""
    return _predict(current_app.extensions["predictor"])


def _predict(predictor: Predictor) -> Response:
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    raw = read_body(request)
    limits = request_limits()
    decoded = decode_dense(raw, predictor.signature, limits) or decode_predict(
        parse_json(raw), predictor.signature, limits, raw
    )
    outputs = predictor.predict(
        decoded.inputs, decoded.signature_name, cancelled=client_gone(request.environ), any_shape=True
    )
    response = Response(encode_predict(outputs, decoded.row_format), mimetype="application/json")
    if prediction_log.sampled():
        prediction_log.log_predict(predictor, decoded, raw, outputs)
    return response


# TF Serving's own path grammar (model_servers/http_rest_api_util.cc): POST takes a verb, GET a status or metadata.
_POST_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict|feedback)")
_GET_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?")


@bp.route("/v1/<path:rest>", methods=_ALL_METHODS)
def v1(rest: str) -> Response:
    """Everything under ``/v1/`` that no other route claims, dispatched as TF Serving's REST handler does.

    As there, a path or method outside its grammar is a 400 "Malformed request" (not a 404 or 405), an unknown
    model or version a 404, an unknown label a 400.
    """
    path = "/v1/" + rest
    post = _POST_PATH.fullmatch(path) if request.method == "POST" else None
    get = _GET_PATH.fullmatch(path) if request.method == "GET" else None
    match = post or get
    if match is None:
        raise InvalidInput(f"Malformed request: {request.method} {path}")
    name, version, label, verb = (part or None for part in match.groups())  # werkzeug has %-decoded them
    if name is None:
        raise InvalidInput("Missing model name in request.")
    served = current_app.extensions["served"]
    # A readable route label for metrics and logs: the TF Serving operation, not the raw path.
    g.route = (
        "/v1/models/{name}"
        + ("/versions/{v}" if version else "/labels/{l}" if label else "")
        + (f":{verb}" if post else "/metadata" if verb else "")
    )
    if get and verb is None:
        return json_response(served.status(name, version, label))
    predictor = g.predictor = served.resolve(name, version, label)
    if get:
        return json_response(_metadata(predictor))
    if verb == "predict":
        return _predict(predictor)
    if verb == "feedback":
        return feedback.receive(predictor)
    return examples.classify(predictor) if verb == "classify" else examples.regress(predictor)


def _metadata(predictor: Predictor) -> dict:
    return {
        "model_spec": {"name": predictor.name, "signature_name": "", "version": str(predictor.version)},
        "metadata": {"signature_def": {"signature_def": predictor.model.signature_defs}},
    }
