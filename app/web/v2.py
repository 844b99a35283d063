"""The V2 / Open Inference Protocol REST API (``/v2/...``), as KServe's ``required_api.md`` defines it.

Answers follow the OIP response schemas and KServe's V2 server (docs/v2-compatibility.md lists where they differ):
every failure, including "not ready", is an ``{"error": ...}`` object raised through ``app.errors``, and every
inference response carries an ``id``: the request's own, else the request id this server logs and echoes in
``X-Request-Id`` (KServe generates one too).
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, current_app, g, request

from app import __version__
from app.codecs.v2 import BINARY_HEADER, decode_infer, encode_infer
from app.errors import ModelNotReady, NotFound
from app.predictor import Predictor
from app.tensors import TensorInfo
from app.versions import ServedModel
from app.web import prediction_log
from app.web.body import read_json, request_limits
from app.web.disconnect import client_gone
from app.web.feedback import receive as receive_feedback
from app.web.responses import json_response

bp = Blueprint("v2", __name__, url_prefix="/v2")

SERVER_NAME = "tf-cloudrun-serving"
EXTENSIONS = ["binary_tensor_data"]


def _predictor(name: str | None = None, version: str | None = None) -> Predictor:
    """The served version named (default: the highest), as KServe answers: 404 for an unknown model or version."""
    served: ServedModel = current_app.extensions["served"]
    if name is not None and name != served.name:
        raise NotFound(f"model {name!r} not found; this server serves {served.name!r}")
    if version is None:
        return served.default
    predictor = served.predictors.get(int(version)) if version.isascii() and version.isdigit() else None
    if predictor is None:
        versions = ", ".join(map(str, served.versions))
        raise NotFound(f"version {version} of model {served.name!r} not found; serving versions {versions}")
    g.predictor = predictor  # for the response's X-Model-Version
    return predictor


def _ready(predictor: Predictor) -> Predictor:
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    return predictor


@bp.get("")
@bp.get("/")  # the path the OIP's OpenAPI document gives
def server_metadata() -> Response:
    return json_response({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})


@bp.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    for predictor in current_app.extensions["served"]:  # every served version
        _ready(predictor)
    return json_response({"ready": True})


@bp.get("/models")
def list_models() -> Response:
    """KServe's model list (not in the OIP): the one model this server serves."""
    return json_response({"models": [_predictor().name]})


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    predictor = _predictor(name, version)
    sig = predictor.signature()
    return json_response(
        {
            "name": predictor.name,
            "versions": [str(v) for v in current_app.extensions["served"].versions],
            "platform": "tensorflow_savedmodel",
            "inputs": [_tensor_metadata(t) for t in sig.inputs.values()],
            "outputs": [_tensor_metadata(t) for t in sig.outputs.values()],
        }
    )


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    predictor = _ready(_predictor(name, version))
    return json_response({"name": predictor.name, "ready": True})


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    predictor = _ready(_predictor(name, version))
    body, binary = read_json(request, binary_ok=True, binary_header=BINARY_HEADER)
    decoded = decode_infer(body, binary, predictor.signature, request_limits())
    outputs = predictor.predict(
        decoded.inputs, decoded.signature_name, decoded.output_names, cancelled=client_gone(request.environ)
    )
    if decoded.id is None:
        decoded = dataclasses.replace(decoded, id=g.request_id)  # set by app.web.middleware for every request
    payload, headers = encode_infer(
        predictor.name, predictor.version, decoded, outputs, predictor.signature(decoded.signature_name)
    )
    mimetype = "application/octet-stream" if headers else "application/json"
    response = Response(payload, mimetype=mimetype, headers=headers)
    if prediction_log.sampled():
        prediction_log.log_infer(predictor, body, decoded, outputs)
    return response


@bp.post("/models/<name>/feedback")
@bp.post("/models/<name>/versions/<version>/feedback")
def feedback(name: str, version: str | None = None) -> Response:
    """Ground truth for an earlier inference (``app.web.feedback``)."""
    return receive_feedback(_predictor(name, version))


def _tensor_metadata(info: TensorInfo) -> dict:
    return {
        "name": info.name,
        "datatype": info.v2_datatype,
        "shape": info.shape_list() if info.shape is not None else [-1],
    }
