"""Ground truth for an earlier prediction: ``{"request_id": "...", "labels": [one true value per row]}``. No HTTP.

The body is validated and turned into the feedback entry's fields; nothing is kept in memory. Errors never echo the
payload back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from app.codecs.values import _json_type  # the one wording of a JSON value's type
from app.errors import InvalidInput

MAX_REQUEST_ID = 1024
"""Longest request id accepted: the server's own are 32 characters, a batch job's are ``<input uri>#<line>``."""
SHAPE = '{"request_id": "<X-Request-Id of the prediction>", "labels": [one true value per predicted row]}'
_INT_RANGE = (-(2**63), 2**64 - 1)  # what the JSON encoder (and BigQuery's INT64/FLOAT64) can carry


@dataclass(frozen=True)
class Feedback:
    """A valid feedback: the prediction's request id and its true labels as JSON text."""

    request_id: str
    labels: str


def parse_feedback(body: Any, max_labels: int, max_bytes: int) -> Feedback:
    """Validate a parsed feedback body. ``max_labels``: MAX_INSTANCES; ``max_bytes``: PREDICTION_LOG_MAX_BYTES."""
    if not isinstance(body, dict):
        raise InvalidInput(f"feedback must be a JSON object: {SHAPE}")
    request_id = body.get("request_id")
    if request_id is None:
        raise InvalidInput(f"'request_id' is missing: {SHAPE}")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID or not request_id.isprintable():
        raise InvalidInput(f"'request_id' must be a string of 1 to {MAX_REQUEST_ID} printable characters")
    labels = body.get("labels")
    if labels is None:
        raise InvalidInput(f"'labels' is missing: {SHAPE}")
    if not isinstance(labels, list) or not labels:
        raise InvalidInput("'labels' must be a non-empty list with one true value per predicted row")
    if len(labels) > max_labels:
        raise InvalidInput(f"'labels' has {len(labels)} values; the limit is {max_labels} (MAX_INSTANCES)")
    bad = next((i for i, label in enumerate(labels) if not _scalar(label)), None)
    if bad is not None:
        raise InvalidInput(
            f"'labels' must hold one string, number or boolean per row; value {bad} is {_describe(labels[bad])}"
        )
    try:
        text = orjson.dumps(labels)
    except orjson.JSONEncodeError:  # a string with a lone surrogate escape such as \ud800
        raise InvalidInput("'labels' has a string that is not valid Unicode") from None
    if len(text) > max_bytes:
        raise InvalidInput(
            f"'labels' come to {len(text)} bytes of JSON; the limit is {max_bytes} (PREDICTION_LOG_MAX_BYTES)"
        )
    return Feedback(request_id, text.decode())


def _scalar(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return _INT_RANGE[0] <= value <= _INT_RANGE[1]
    return isinstance(value, float) and math.isfinite(value)


def _describe(value: Any) -> str:
    return "not a finite number" if isinstance(value, float) else _json_type(value)
