"""TF Serving's ``:classify`` and ``:regress`` JSON: a request becomes a batch of serialized ``tf.Example``s, and
results become ``{"results": ...}``.

A port of ``FillClassifyRegressRequestFromJson``, ``MakeJsonFromClassificationResult`` and
``MakeJsonFromRegressionResult`` (tensorflow_serving ``util/json_tensor.cc``). Feature values follow TF Serving's
rules: a number written with a fraction or exponent (or beyond 64 bits) goes to ``float_list``, a whole number or a
boolean to ``int64_list``, a string or ``{"b64": ...}`` to ``bytes_list``; one feature takes one kind. The
``context`` is merged into each example as TF Serving merges it (``servables/tensorflow/util.cc``): its serialized
bytes are put before each example's, so an example's feature overrides a context feature of the same name.
Error texts are TF Serving's, without the ``JSON Value: <the request>`` prefix (this service never echoes a payload).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.codecs.jsonio import dumps
from app.codecs.limits import Budget, Limits, check_free_form
from app.errors import InvalidInput

if TYPE_CHECKING:
    from tensorflow.core.example import example_pb2

_FIELDS = {"signature_name", "context", "examples"}
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


@dataclass(frozen=True)
class ExamplesRequest:
    """A decoded request: the signature (``""``: the default one) and the serialized examples, context merged in."""

    signature_name: str
    examples: np.ndarray  # object array of bytes, shape (number of examples,)


def decode_examples(body: Any, limits: Limits, max_bytes: int) -> ExamplesRequest:
    """Decode a parsed JSON body. ``limits`` bound the examples (count), values, nesting and string sizes; the
    serialized examples, with the context merged into each, may come to ``max_bytes`` (MAX_REQUEST_BYTES) in all.
    """
    budget = Budget(limits)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object with 'examples'")
    for key in set(body) - _FIELDS:  # ignored, as TF Serving ignores them, but still within the nesting limit
        check_free_form(body[key], limits, depth=1)
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidInput("not formatted correctly. 'signature_name' key must be a string value.")
    context, context_values = b"", 0
    if "context" in body:
        context = _example(body["context"], budget, depth=2).SerializeToString()
        context_values = budget.elements
    if "examples" not in body:
        raise InvalidInput("When method is classify, key 'examples' is expected and was not found")
    items = body["examples"]
    if not isinstance(items, list):
        raise InvalidInput("Expecting 'examples' value to be an list/array")
    if not items:
        raise InvalidInput("'examples' value is an empty array")
    limits.check_instances(len(items))
    budget.add(context_values * (len(items) - 1))  # the model sees the context's values once per example
    serialized = [_example(item, budget, depth=3).SerializeToString() for item in items]
    total = len(context) * len(items) + sum(map(len, serialized))
    if total > max_bytes:
        raise InvalidInput(
            f"the examples, with 'context' merged into each, come to {total} bytes serialized; "
            f"the limit is {max_bytes} (MAX_REQUEST_BYTES)"
        )
    examples = np.empty(len(items), dtype=object)
    examples[:] = [context + item for item in serialized]
    return ExamplesRequest(name, examples)


def _example(value: Any, budget: Budget, depth: int) -> example_pb2.Example:
    """``MakeExampleFromJsonObject``: a JSON object of features. ``depth``: the JSON level of the object."""
    from tensorflow.core.example import example_pb2  # here, not at import: it loads TensorFlow

    if not isinstance(value, dict):
        raise InvalidInput(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = example_pb2.Example()
    features = example.features.feature
    for name, content in value.items():
        budget.limits.check_string(len(_utf8(name, f"feature name {name!r}")), "a feature name")
        kind, values = _feature(content, name, budget, depth + 1)
        feature = features[name]  # an empty list makes a feature of no kind, as in TF Serving
        if kind:
            getattr(feature, f"{kind}_list").value.extend(values)
    return example


def _feature(content: Any, name: str, budget: Budget, depth: int) -> tuple[str, list]:
    """One feature's kind and values, from a value or a list of values (``AddValueToFeature`` for each)."""
    items = content if isinstance(content, list) else [content]
    if isinstance(content, list):
        budget.limits.check_depth(depth)
        depth += 1
    budget.add(len(items))
    kind, values = "", []
    for item in items:
        item_kind = _kind(item, name, budget.limits, depth)
        if kind and item_kind != kind:
            raise InvalidInput(f"Unexpected element type in feature: {name} expecting type: {kind}")
        kind = item_kind
        values.append(_value(item, kind, name, budget.limits))
    return kind, values


def _kind(item: Any, name: str, limits: Limits, depth: int) -> str:
    """The feature kind a JSON value belongs to (``bytes``, ``float`` or ``int64``), or TF Serving's type error."""
    if isinstance(item, str):
        return "bytes"
    if isinstance(item, bool):
        return "int64"
    if isinstance(item, int):
        return "float" if item > _UINT64_MAX or item < _INT64_MIN else "int64"  # RapidJSON reads these as doubles
    if isinstance(item, float):
        return "float"
    if _is_b64(item):
        limits.check_depth(depth)
        return "bytes"
    raise InvalidInput(f"Feature: {name} has element with unexpected JSON type: {_json_type(item)}")


def _value(item: Any, kind: str, name: str, limits: Limits) -> Any:
    """The value to store, once its kind matched the feature's."""
    if kind == "int64":
        if item > _INT64_MAX:
            raise InvalidInput(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        return int(item)
    if kind == "float":
        try:
            return float(item)
        except OverflowError:  # an integer literal beyond any double: ±Infinity, as for 1e400
            return math.inf if item > 0 else -math.inf
    if isinstance(item, str):
        data = _utf8(item, f"Feature: {name}")
    else:
        try:
            data = base64.b64decode(item["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("Unable to base64 decode") from None
    limits.check_string(len(data), f"feature {name!r}")
    return data


def _utf8(text: str, label: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{label} has a lone surrogate escape such as \\ud800, which is not valid Unicode; "
            'send arbitrary bytes as {"b64": ...}'
        ) from None


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _json_type(value: Any) -> str:
    """RapidJSON's name for a JSON value's type, as TF Serving's messages use it."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return "Number"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), type(value).__name__)


# -- results ---------------------------------------------------------------------------------------------------


def encode_classification(labels: np.ndarray | None, scores: np.ndarray | None) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` from ``[examples, classes]`` arrays of labels (bytes) and
    scores (float32); a missing one is ``""`` or ``0.0``, as in TF Serving's empty proto fields."""
    shaped = labels if labels is not None else scores
    if shaped is None or not shaped.shape[0]:
        raise InvalidInput("Cannot convert empty ClassificationResults to JSON")
    rows, classes = shaped.shape
    label_rows = [[_label(x) for x in row] for row in labels] if labels is not None else [[""] * classes] * rows
    score_rows = _floats(scores) if scores is not None else [[0.0] * classes] * rows
    results = [[list(pair) for pair in zip(ls, ss, strict=True)] for ls, ss in zip(label_rows, score_rows, strict=True)]
    return dumps({"results": results}, nonfinite=scores is not None and not np.isfinite(scores).all())


def encode_regression(values: np.ndarray) -> bytes:
    """``{"results": [value, ...]}``: one float per example."""
    if not values.size:
        raise InvalidInput("Cannot convert empty RegressionResults to JSON")
    flat = values.reshape(-1).astype(np.float32, copy=False)
    if np.isfinite(flat).all():
        return dumps({"results": flat})  # orjson writes float32 as its shortest round-trip text
    return dumps({"results": _floats(flat)}, nonfinite=True)


def _floats(arr: np.ndarray) -> list:
    """float32 values as Python floats with the shortest text that reads back as the same float32 (so 0.2 stays
    0.2, not 0.20000000298023224), for the encoder that writes NaN and Infinity."""
    return [float(str(x)) for x in arr] if arr.ndim == 1 else [_floats(row) for row in arr]


def _label(value: Any) -> str:
    # TF Serving copies the label's bytes into the JSON string; bytes that are not UTF-8 would make invalid JSON.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
