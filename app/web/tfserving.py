"""TF Serving's REST API (``/v1/models/...``) and the plain ``/predict`` route, in TF Serving's formats."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, g, request

from app.codecs.tfserving import decode_dense, decode_predict, encode_predict
from app.errors import MethodNotAllowed, ModelNotReady, NotFound
from app.predictor import Predictor
from app.web.body import parse_json, read_body, request_limits
from app.web.disconnect import client_gone
from app.web.responses import json_response

bp = Blueprint("tfserving", __name__)

_V1_PATH = re.compile(
    r"(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?(?P<verb>:[a-z]+|/metadata)?"
)
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def predict() -> Response:
    """POST a TF Serving predict request to the served model (``/predict`` and Vertex AI's predict route)."""
    predictor: Predictor = current_app.extensions["predictor"]
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    raw = read_body(request)
    limits = request_limits()
    decoded = decode_dense(raw, predictor.signature, limits) or decode_predict(
        parse_json(raw), predictor.signature, limits, raw
    )
    outputs = predictor.predict(decoded.inputs, decoded.signature_name, cancelled=client_gone(request.environ))
    return Response(encode_predict(outputs, decoded.row_format), mimetype="application/json")


@bp.route("/v1/models/<path:rest>", methods=_ALL_METHODS)
def v1(rest: str) -> Response:
    """Dispatch ``/v1/models/{name}[/versions/{v}][:predict|/metadata]`` as TF Serving does."""
    match = _V1_PATH.fullmatch(rest)
    if match is None:
        raise NotFound(f"no such TF Serving route: /v1/models/{rest}")
    predictor: Predictor = current_app.extensions["predictor"]
    _check_model(predictor, match["name"], match["version"], match["label"])
    verb = match["verb"]
    # A readable route label for metrics and logs: the TF Serving operation, not the raw path.
    g.route = "/v1/models/{name}" + ("/versions/{v}" if match["version"] else "") + (verb or "")
    if verb == ":predict":
        _allow("POST")
        return predict()
    if verb == "/metadata":
        _allow("GET")
        return json_response(_metadata(predictor))
    if verb is None:
        _allow("GET")
        return json_response(_status(predictor))
    if verb in (":classify", ":regress"):
        raise NotFound(f"the {verb[1:]} API is not served; use :predict with the model's signature")
    raise NotFound(f"no such TF Serving route: /v1/models/{rest}")


def _allow(method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(f"{request.method} is not allowed here; use {method}")


def _check_model(predictor: Predictor, name: str, version: str | None, label: str | None) -> None:
    predictor.check_model(name, version)  # a path has either a version or a label, never both
    if label is not None:
        raise NotFound(f"version label {label!r} not found for model {name!r}; use /versions/{predictor.version}")


def _status(predictor: Predictor) -> dict:
    state = "AVAILABLE" if predictor.ready else "LOADING"
    return {
        "model_version_status": [
            {
                "version": str(predictor.version),
                "state": state,
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def _metadata(predictor: Predictor) -> dict:
    return {
        "model_spec": {"name": predictor.name, "signature_name": "", "version": str(predictor.version)},
        "metadata": {"signature_def": {"signature_def": predictor.model.signature_defs}},
    }
