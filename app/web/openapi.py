"""``GET /openapi.json``: an OpenAPI 3 document whose schemas are generated from the loaded model's signatures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from app import __version__
from app.codecs.limits import MAX_DIMS, Limits
from app.predictor import Predictor
from app.tensors import V2_TO_DTYPE, SignatureInfo, TensorInfo
from app.web.body import request_limits
from app.web.responses import json_response

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


@bp.get("/openapi.json")
def openapi() -> Response:
    document = build_openapi(current_app.extensions["predictor"], current_app.config["PREDICT_ROUTE"], request_limits())
    return json_response(document)


def leaf_schema(info: TensorInfo) -> dict[str, Any]:
    """The JSON schema of one scalar element of a tensor."""
    kind = info.np_dtype.kind
    if info.is_string:
        return {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "required": ["b64"],
                    "additionalProperties": False,
                    "properties": {"b64": {"type": "string", "format": "byte"}},
                },
            ]
        }
    if kind == "b":
        return {"type": "boolean"}
    if kind in "iu":
        import numpy as np

        limits = np.iinfo(info.np_dtype)
        return {"type": "integer", "minimum": int(limits.min), "maximum": int(limits.max)}
    return {"type": "number"}


def tensor_schema(info: TensorInfo, dims: tuple[int | None, ...] | None) -> dict[str, Any]:
    """Nested arrays for ``dims`` (None: any rank) around the element schema."""
    schema = leaf_schema(info)
    if dims is None:
        return {}  # unknown rank: anything nested
    for dim in reversed(dims):
        schema = {"type": "array", "items": schema}
        if dim is not None:
            schema.update(minItems=dim, maxItems=dim)
    return schema


def _row_item(sig: SignatureInfo) -> dict[str, Any]:
    def per_example(info: TensorInfo) -> dict[str, Any]:
        return tensor_schema(info, None if info.shape is None else info.shape[1:])

    named = {
        "type": "object",
        "required": list(sig.inputs),
        "additionalProperties": False,
        "properties": {n: per_example(i) for n, i in sig.inputs.items()},
    }
    if len(sig.inputs) == 1:
        return {"anyOf": [per_example(next(iter(sig.inputs.values()))), named]}
    return named


def _column(info: TensorInfo, limits: Limits) -> dict[str, Any]:
    """A whole input in the columnar format: its first dimension is the batch (at least one example)."""
    schema = tensor_schema(info, info.shape)
    if schema.get("type") == "array" and info.shape and info.shape[0] is None:
        schema.update(minItems=1, maxItems=limits.max_instances)
    return schema


def _columns(sig: SignatureInfo, limits: Limits) -> dict[str, Any]:
    named = {
        "type": "object",
        "required": list(sig.inputs),
        "additionalProperties": False,
        "properties": {n: _column(i, limits) for n, i in sig.inputs.items()},
    }
    if len(sig.inputs) == 1:
        return {"anyOf": [_column(next(iter(sig.inputs.values())), limits), named]}
    return named


def _predict_request(predictor: Predictor, limits: Limits) -> dict[str, Any]:
    variants = []
    for name, sig in predictor.signatures.items():
        sig_name = {"type": "string", "enum": [name]}
        default = name == predictor.default_signature
        rows = {"type": "array", "minItems": 1, "maxItems": limits.max_instances, "items": _row_item(sig)}
        for field, schema in (("instances", rows), ("inputs", _columns(sig, limits))):
            variants.append(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [field] if default else [field, "signature_name"],
                    "properties": {
                        "signature_name": sig_name,
                        field: schema,
                        "parameters": {"type": "object"},
                    },
                }
            )
    return {"anyOf": variants}


def _v2_shape(info: TensorInfo, limits: Limits) -> dict[str, Any]:
    """Declared shapes: the model's rank where known, a batch of 1 to MAX_INSTANCES, no dimension over MAX_ELEMENTS."""
    dim = {"type": "integer", "minimum": 0, "maximum": limits.max_elements}
    if info.shape is None:
        return {"type": "array", "maxItems": MAX_DIMS, "items": dim}
    items = []
    for i, want in enumerate(info.shape):
        if want is not None:
            items.append({"type": "integer", "enum": [want]})
        elif i == 0:
            items.append({"type": "integer", "minimum": 1, "maximum": limits.max_instances})
        else:
            items.append(dim)
    rank = len(info.shape)
    # OpenAPI 3.0 has no tuple form (prefixItems): one schema that every dimension meets.
    return {"type": "array", "minItems": rank, "maxItems": rank, "items": {"anyOf": items} if items else dim}


def _v2_request(sig: SignatureInfo, limits: Limits) -> dict[str, Any]:
    tensors = []
    for name, info in sig.inputs.items():
        tensors.append(
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"type": "string", "enum": [name]},
                    "shape": _v2_shape(info, limits),
                    "datatype": {"type": "string", "enum": [info.v2_datatype]},
                    "data": {"type": "array", "items": {}},
                    "parameters": {"type": "object"},
                },
            }
        )
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {
                "type": "object",
                "properties": {
                    "signature_name": {"type": "string"},
                    "binary_data_output": {"type": "boolean"},
                },
            },
            "inputs": {"type": "array", "minItems": 1, "items": {"anyOf": tensors}},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": list(sig.outputs)},
                        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
                    },
                },
            },
        },
    }


_V2_TENSOR_OUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "enum": sorted(V2_TO_DTYPE)},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}


def _op(
    summary: str,
    ok: dict[str, Any] | None,
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (404, 503),
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ok or {}}}}}
    for code in errors:
        responses[str(code)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def build_openapi(
    predictor: Predictor, predict_route: str = "/predict", limits: Limits | None = None
) -> dict[str, Any]:
    """The document for the served model. Paths name the model and version concretely (one model per server)."""
    limits = limits or Limits()
    name, version = predictor.name, str(predictor.version)
    sig = predictor.signature()
    predict_errors = (400, 404, 413, 415, 503)
    tf_predict = _op(
        "TF Serving predict",
        {"$ref": "#/components/schemas/PredictResponse"},
        {"$ref": "#/components/schemas/PredictRequest"},
        predict_errors,
    )
    v2_infer = _op(
        "V2 inference",
        {"$ref": "#/components/schemas/InferResponse"},
        {"$ref": "#/components/schemas/InferRequest"},
        predict_errors,
    )
    # With the binary tensor extension (binary_data_output or an output's binary_data), the answer is a JSON header
    # of Inference-Header-Content-Length bytes followed by the raw output tensors.
    v2_infer["responses"]["200"]["content"]["application/octet-stream"] = {
        "schema": {"type": "string", "format": "binary"}
    }
    examples_request = {
        "type": "object",
        "required": ["examples"],
        "properties": {
            "signature_name": {"type": "string"},
            "context": {"type": "object"},
            "examples": {"type": "array", "items": {"type": "object"}},
        },
    }
    results = {"type": "object", "required": ["results"], "properties": {"results": {"type": "array"}}}
    tf_classify = _op("TF Serving classify (tf.Example features)", results, examples_request, predict_errors)
    tf_regress = _op("TF Serving regress (tf.Example features)", results, examples_request, predict_errors)
    feedback = _op(
        "Ground truth for an earlier prediction, logged as a feedback entry (docs/prediction-logs.md)",
        {"type": "object"},
        {
            "type": "object",
            "required": ["request_id", "labels"],
            "properties": {
                "request_id": {"type": "string", "description": "the prediction's X-Request-Id"},
                "labels": {"type": "array", "minItems": 1, "description": "one true value per row"},
            },
        },
        (400, 404, 413, 415),
    )
    status = _op("TF Serving model status", {"type": "object", "required": ["model_version_status"]}, errors=(404,))
    metadata = _op(
        "TF Serving model metadata", {"type": "object", "required": ["model_spec", "metadata"]}, errors=(404,)
    )
    v2_meta = _op(
        "V2 model metadata",
        {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"]},
        errors=(404,),
    )
    v2_ready = _op("V2 model ready", {"type": "object", "required": ["name", "ready"]})
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("Liveness", {"type": "object"}, errors=())},
        "/readyz": {"get": _op("Readiness: model loaded and warmed up", {"type": "object"}, errors=(503,))},
        predict_route: {"post": tf_predict},
        f"/v1/models/{name}:predict": {"post": tf_predict},
        f"/v1/models/{name}/versions/{version}:predict": {"post": tf_predict},
        f"/v1/models/{name}:classify": {"post": tf_classify},
        f"/v1/models/{name}:regress": {"post": tf_regress},
        f"/v1/models/{name}:feedback": {"post": feedback},
        f"/v1/models/{name}": {"get": status},
        f"/v1/models/{name}/versions/{version}": {"get": status},
        f"/v1/models/{name}/metadata": {"get": metadata},
        f"/v1/models/{name}/versions/{version}/metadata": {"get": metadata},
        "/v2": {
            "get": _op(
                "V2 server metadata",
                {"type": "object", "required": ["name", "version", "extensions"]},
                errors=(),
            )
        },
        "/v2/": {
            "get": _op(
                "V2 server metadata (the Open Inference Protocol's OpenAPI spells it with a slash)",
                {"type": "object", "required": ["name", "version", "extensions"]},
                errors=(),
            )
        },
        "/v2/models": {
            "get": _op(
                "V2 model list (KServe's)",
                {
                    "type": "object",
                    "required": ["models"],
                    "properties": {"models": {"type": "array", "items": {"type": "string"}}},
                },
                errors=(),
            )
        },
        "/v2/health/live": {"get": _op("V2 server live", {"type": "object"}, errors=())},
        "/v2/health/ready": {"get": _op("V2 server ready", {"type": "object"}, errors=(503,))},
        f"/v2/models/{name}": {"get": v2_meta},
        f"/v2/models/{name}/versions/{version}": {"get": v2_meta},
        f"/v2/models/{name}/ready": {"get": v2_ready},
        f"/v2/models/{name}/versions/{version}/ready": {"get": v2_ready},
        f"/v2/models/{name}/infer": {"post": v2_infer},
        f"/v2/models/{name}/feedback": {"post": feedback},
        f"/v2/models/{name}/versions/{version}/infer": {"post": v2_infer},
        "/openapi.json": {"get": _op("This document", {"type": "object"}, errors=())},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{name} (version {version})",
            "version": __version__,
            "description": "TF Serving REST, V2 Open Inference Protocol and Vertex AI prediction APIs for "
            f"the SavedModel at {predictor.source_uri or 'the configured MODEL_URI'}. "
            "As in TF Serving, float values may be the tokens NaN, Infinity and -Infinity, in requests and in "
            "responses (JSON Schema cannot express them). Limits per request: "
            f"{limits.max_instances} instances (MAX_INSTANCES), {limits.max_elements} values (MAX_ELEMENTS), "
            f"{limits.max_nesting_depth} levels of nesting (MAX_NESTING_DEPTH), {limits.max_string_bytes} bytes "
            "per string (MAX_STRING_BYTES).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "PredictRequest": _predict_request(predictor, limits),
                "PredictResponse": {
                    "type": "object",
                    "properties": {
                        "predictions": {
                            "type": "array",
                            "items": {"anyOf": [_output_row(s) for s in predictor.signatures.values()]},
                        },
                        "outputs": {},
                    },
                },
                "InferRequest": _v2_request(sig, limits),
                "InferResponse": {
                    "type": "object",
                    "required": ["model_name", "outputs", "id"],
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "outputs": {"type": "array", "items": _V2_TENSOR_OUT},
                    },
                },
            }
        },
    }


def _output_row(sig: SignatureInfo) -> dict[str, Any]:
    def per_example(info: TensorInfo) -> dict[str, Any]:
        return tensor_schema(info, None if info.shape is None else info.shape[1:])

    if len(sig.outputs) == 1:
        return per_example(next(iter(sig.outputs.values())))
    return {"type": "object", "properties": {n: per_example(i) for n, i in sig.outputs.items()}}
