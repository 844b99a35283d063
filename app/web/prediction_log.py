"""The HTTP side of prediction entries: which request, protocol, signature and latency an entry is for.

A handler computes its response, then asks ``sampled()`` (at PREDICTION_LOG_SAMPLE=0: one comparison, nothing
else) and, for a sampled request, calls the ``log_*`` function of its protocol before returning. The entry itself is
built by ``app.prediction_log`` (``app.extensions["prediction_log"]``, made by the app factory).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from flask import current_app, g, request

from app.codecs.examples import ExamplesRequest
from app.codecs.jsonio import loads
from app.codecs.tfserving import PredictRequest
from app.codecs.v2 import InferRequest
from app.prediction_log import JsonInput, PredictionLog
from app.prediction_log.values import Loggable
from app.prediction_log.wire import tfserving_bytes_inputs, v2_bytes_inputs
from app.predictor import DEFAULT_SIGNATURE, Predictor

VERTEX_PREDICT_ENDPOINT = "aip_predict"
"""The endpoint of Vertex AI's predict route (AIP_PREDICT_ROUTE, when it is not /predict): protocol "vertex"."""


def sampled() -> bool:
    """Whether the current request gets a prediction entry."""
    prediction_log: PredictionLog = current_app.extensions["prediction_log"]
    return prediction_log.sampled()


def log_predict(predictor: Predictor, decoded: PredictRequest, raw: bytes, outputs: Mapping[str, np.ndarray]) -> None:
    """The entry of a TF Serving predict (``/v1``, ``/predict``) or of Vertex AI's predict route. ``raw``: the body."""
    protocol = "vertex" if request.endpoint == VERTEX_PREDICT_ENDPOINT else "tfserving"
    strings = [name for name, arr in decoded.inputs.items() if arr.dtype == object]
    as_bytes = tfserving_bytes_inputs(loads(raw), strings) if strings else frozenset()
    _log(protocol, predictor, predictor.signature(decoded.signature_name).name, decoded.inputs, outputs, as_bytes)


def log_examples(predictor: Predictor, body: Any, decoded: ExamplesRequest, outputs: Mapping[str, np.ndarray]) -> None:
    """The entry of a ``:classify`` or ``:regress``: the examples as sent, each with the context merged in as the
    model saw it (an example's feature overrides the context's), summarized as the serialized examples."""
    context = body.get("context") or {}
    examples = [{**context, **example} for example in body["examples"]] if context else body["examples"]
    inputs = {"examples": JsonInput(examples, decoded.examples)}
    _log("tfserving", predictor, decoded.signature_name or DEFAULT_SIGNATURE, inputs, outputs)


def log_infer(predictor: Predictor, body: Any, decoded: InferRequest, outputs: Mapping[str, np.ndarray]) -> None:
    """The entry of a V2 inference; inputs sent in the binary extension or as ``{"b64"}`` are summarized."""
    signature = predictor.signature(decoded.signature_name).name
    _log("v2", predictor, signature, decoded.inputs, outputs, v2_bytes_inputs(body))


def _log(
    protocol: str,
    predictor: Predictor,
    signature: str,
    inputs: Mapping[str, Loggable],
    outputs: Mapping[str, np.ndarray],
    as_bytes: frozenset[str] = frozenset(),
) -> None:
    prediction_log: PredictionLog = current_app.extensions["prediction_log"]
    prediction_log.prediction(
        request_id=g.request_id,  # app.web.middleware sets it for every request; it is the X-Request-Id
        model_name=predictor.name,
        model_version=predictor.version,
        protocol=protocol,
        signature=signature,
        inputs=inputs,
        outputs=outputs,
        latency_ms=(time.perf_counter() - g.started) * 1000,
        as_bytes=as_bytes,
    )
