"""The V2 / Open Inference Protocol REST API (``/v2/...``), as KServe's ``required_api.md`` defines it."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from app import __version__
from app.codecs.v2 import BINARY_HEADER, decode_infer, encode_infer
from app.errors import ModelNotReady
from app.predictor import Predictor
from app.web.body import read_json, request_limits
from app.web.disconnect import client_gone
from app.web.responses import json_response

bp = Blueprint("v2", __name__, url_prefix="/v2")

SERVER_NAME = "tf-cloudrun-serving"
EXTENSIONS = ["binary_tensor_data"]


def _predictor(name: str | None = None, version: str | None = None) -> Predictor:
    predictor: Predictor = current_app.extensions["predictor"]
    if name is not None:
        predictor.check_model(name, version)
    return predictor


@bp.get("")
def server_metadata() -> Response:
    return json_response({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})


@bp.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@bp.get("/health/ready")
def ready() -> Response:
    is_ready = _predictor().ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> Response:
    predictor = _predictor(name, version)
    sig = predictor.signature()
    return json_response(
        {
            "name": predictor.name,
            "versions": [str(predictor.version)],
            "platform": "tensorflow_savedmodel",
            "inputs": [_tensor_metadata(t) for t in sig.inputs.values()],
            "outputs": [_tensor_metadata(t) for t in sig.outputs.values()],
        }
    )


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> Response:
    predictor = _predictor(name, version)
    return json_response({"name": predictor.name, "ready": predictor.ready}, 200 if predictor.ready else 503)


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> Response:
    predictor = _predictor(name, version)
    if not predictor.ready:
        raise ModelNotReady(f"model {predictor.name!r} is not ready")
    body, binary = read_json(request, binary_ok=True, binary_header=BINARY_HEADER)
    decoded = decode_infer(body, binary, predictor.signature, request_limits())
    outputs = predictor.predict(
        decoded.inputs, decoded.signature_name, decoded.output_names, cancelled=client_gone(request.environ)
    )
    payload, headers = encode_infer(
        predictor.name, predictor.version, decoded, outputs, predictor.signature(decoded.signature_name)
    )
    mimetype = "application/octet-stream" if headers else "application/json"
    return Response(payload, mimetype=mimetype, headers=headers)


def _tensor_metadata(info) -> dict:
    return {
        "name": info.name,
        "datatype": info.v2_datatype,
        "shape": info.shape_list() if info.shape is not None else [-1],
    }
