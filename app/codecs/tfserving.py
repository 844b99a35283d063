"""TF Serving's REST predict format: row ("instances") and columnar ("inputs") requests and responses.

See tensorflow/serving ``g3doc/api_rest.md``. Vertex AI's custom-container contract uses the same row format
(``{"instances": [...], "parameters": {...}}`` -> ``{"predictions": [...]}``; ``parameters`` is accepted and ignored).
Unknown top-level fields, and keys of a columnar ``"inputs"`` object that are not the signature's inputs, are
ignored, as TF Serving ignores them. A request must carry at least one example: ``"instances": []`` (as in TF
Serving) and columnar inputs whose first dimension is 0 (TF Serving runs the graph on those) are a 400. Nesting
depth counts from the body object (level 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.codecs.dense import dense_instances, remember_shape
from app.codecs.jsonio import dumps, has_nonfinite
from app.codecs.limits import Budget, Limits, check_free_form
from app.codecs.values import output_to_json, to_array
from app.errors import InvalidInput
from app.tensors import SignatureInfo, TensorInfo

_FIELDS = {"signature_name", "instances", "inputs", "parameters"}


@dataclass(frozen=True)
class PredictRequest:
    """A decoded predict request: which signature, the named input arrays, and the format to answer in."""

    signature_name: str | None
    inputs: dict[str, np.ndarray]
    row_format: bool


def decode_predict(
    body: Any,
    signature_for: Callable[[str | None], SignatureInfo],
    limits: Limits | None = None,
    raw: bytes | None = None,
) -> PredictRequest:
    """Decode a parsed JSON body. ``signature_for`` maps a signature name (None: default) to its description.

    ``limits`` (default: the default ``Limits``) bounds the rows, values, nesting and string sizes. ``raw``, the
    body's bytes, lets ``decode_dense`` take later bodies of the same structure (``app.codecs.dense``).
    """
    budget = Budget(limits or Limits())
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object with 'instances' or 'inputs'")
    for key in set(body) - _FIELDS:  # ignored, as TF Serving ignores them, but still within the nesting limit
        check_free_form(body[key], budget.limits, depth=1)
    name = body.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("'signature_name' key must be a string value.")
    if "parameters" in body and not isinstance(body["parameters"], dict | None):
        raise InvalidInput("'parameters' must be an object")
    check_free_form(body.get("parameters"), budget.limits, depth=1)
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        which = "both" if has_rows else "neither"
        raise InvalidInput(
            f"request must have either 'instances' (row format) or 'inputs' (columnar format), not {which}"
            + (": expecting only one of 'inputs' or 'instances' keys to exist" if has_rows else "")
        )
    sig = signature_for(name or None)
    if has_rows:
        inputs = _rows(body["instances"], sig, budget)
        if raw is not None and len(body) == 1 and len(inputs) == 1:
            remember_shape(raw, next(iter(inputs.values())).shape)  # the next such body takes decode_dense
        return PredictRequest(name or None, inputs, row_format=True)
    return PredictRequest(name or None, _columns(body["inputs"], sig, budget), row_format=False)


def decode_dense(
    raw: bytes, signature_for: Callable[[str | None], SignatureInfo], limits: Limits
) -> PredictRequest | None:
    """The shortcut for the commonest body, ``{"instances": [plain numbers]}`` for a one-input signature, decoded
    from its bytes once a body of the same structure went through ``decode_predict`` (``app.codecs.dense``).
    None means "use ``decode_predict``": it decides, and words every error.
    """
    sig = signature_for(None)
    if len(sig.inputs) != 1:
        return None
    (info,) = sig.inputs.values()
    if info.np_dtype.kind not in "iuf":
        return None
    array = dense_instances(raw, info, limits)
    return None if array is None else PredictRequest(None, {info.name: array}, row_format=True)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _named(value: Any, sig: SignatureInfo) -> bool:
    """Whether a dict is keyed by input names (rather than being a single {"b64": ...} value)."""
    return isinstance(value, dict) and not (_is_b64(value) and "b64" not in sig.inputs)


def _rows(instances: Any, sig: SignatureInfo, budget: Budget) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidInput("'instances' must be a list with one entry per example")
    if not instances:
        raise InvalidInput("'instances' is empty: send at least one example")
    budget.limits.check_instances(len(instances))
    if _named(instances[0], sig):
        if not all(_named(item, sig) for item in instances):
            raise InvalidInput("'instances' mixes objects and plain values: use one form for every instance")
        keys = set(instances[0])
        if any(set(item) != keys for item in instances):
            raise InvalidInput("every instance must have the same named inputs")
        # A value sits in body -> instances -> instance object; the list built here adds one level, so 2 remain.
        return {
            key: to_array([item[key] for item in instances], _input(sig, key), f"input {key!r}", budget, depth=2)
            for key in instances[0]
        }
    if len(sig.inputs) != 1:
        raise InvalidInput(
            f"signature {sig.name!r} has {len(sig.inputs)} inputs ({', '.join(sig.inputs)}): "
            "each instance must be an object keyed by input name"
        )
    (only,) = sig.inputs.values()
    return {only.name: to_array(instances, only, f"input {only.name!r}", budget, depth=1)}


def _columns(inputs: Any, sig: SignatureInfo, budget: Budget) -> dict[str, np.ndarray]:
    if _named(inputs, sig):
        if not inputs:
            raise InvalidInput("'inputs' is an empty object")
        # As in TF Serving, the signature's inputs are looked up and any other key is ignored.
        missing = [key for key in sig.inputs if key not in inputs]
        if missing:
            raise InvalidInput(
                f"Missing named input: {missing[0]} in 'inputs' object (signature {sig.name!r} "
                f"expects inputs: {', '.join(sig.inputs)})"
            )
        for key in inputs.keys() - sig.inputs.keys():
            check_free_form(inputs[key], budget.limits, depth=2)
        return {key: _column(inputs[key], info, f"input {key!r}", budget, 2) for key, info in sig.inputs.items()}
    if len(sig.inputs) != 1:
        raise InvalidInput(
            f"signature {sig.name!r} has {len(sig.inputs)} inputs ({', '.join(sig.inputs)}): "
            "'inputs' must be an object keyed by input name"
        )
    (only,) = sig.inputs.values()
    return {only.name: _column(inputs, only, f"input {only.name!r}", budget, 1)}


def _column(value: Any, info: TensorInfo, label: str, budget: Budget, depth: int) -> np.ndarray:
    """One columnar input: its first dimension is the batch (rows), checked before the array is built."""
    if isinstance(value, list):
        if not value:
            raise InvalidInput(f"{label} has an empty batch (first dimension 0): send at least one example")
        budget.limits.check_instances(len(value))
    return to_array(value, info, label, budget, depth)


def _input(sig: SignatureInfo, key: str) -> TensorInfo:
    try:
        return sig.inputs[key]
    except KeyError:
        raise InvalidInput(
            f"unknown input {key!r} for signature {sig.name!r}; expected inputs: {', '.join(sig.inputs)}"
        ) from None


def encode_predict(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """``{"predictions": ...}`` for row requests, ``{"outputs": ...}`` for columnar ones."""
    nonfinite = has_nonfinite(outputs.values())
    values = {name: output_to_json(name, arr) for name, arr in outputs.items()}
    if not row_format:
        payload = next(iter(values.values())) if len(values) == 1 else values
        return dumps({"outputs": payload}, nonfinite)
    sizes = {name: arr.shape[0] if arr.ndim else None for name, arr in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise InvalidInput(
            "the model's outputs do not share a batch dimension "
            f"({', '.join(f'{n}: {s}' for n, s in sizes.items())}); use the columnar 'inputs' format"
        )
    if len(values) == 1:
        return dumps({"predictions": next(iter(values.values()))}, nonfinite)
    batch = next(iter(sizes.values()))
    rows = [{name: value[i] for name, value in values.items()} for i in range(batch)]
    return dumps({"predictions": rows}, nonfinite)
