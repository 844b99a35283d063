"""JSON values <-> numpy arrays for one tensor, with clear errors. Shared by the TF Serving and V2 codecs."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from app.errors import InvalidInput
from app.tensors import TensorInfo


def to_array(value: Any, info: TensorInfo, label: str) -> np.ndarray:
    """Convert a (nested) JSON value to an array of ``info``'s dtype. ``label`` names it in error messages."""
    if info.is_string:
        return _strings(value, label)
    try:
        arr = np.asarray(value)
    except ValueError:
        raise InvalidInput(f"{label} is ragged: nested lists must all have the same length") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise InvalidInput(f"{label} must hold {_expected(info)}, got {_describe_kind(arr)}")
    target = info.np_dtype
    if target.kind == "b":
        if kind != "b":
            raise InvalidInput(f"{label} must hold booleans (true/false), got numbers")
        return arr
    if kind == "b":
        raise InvalidInput(f"{label} must hold {_expected(info)}, got booleans")
    if target.kind in "iu":
        return _integers(arr, target, label)
    return arr.astype(target, copy=False)


def _integers(arr: np.ndarray, target: np.dtype, label: str) -> np.ndarray:
    if arr.dtype.kind == "f" and arr.size and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise InvalidInput(f"{label} must hold integers ({target.name}), got fractional or non-finite numbers")
    if arr.size:
        limits = np.iinfo(target)
        if arr.min() < limits.min or arr.max() > limits.max:
            raise InvalidInput(f"{label} has values outside the range of {target.name}")
    return arr.astype(target, copy=False)


def _strings(value: Any, label: str) -> np.ndarray:
    flat: list[bytes] = []
    shape = _walk_strings(value, flat, label, 0)
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(shape)


def _walk_strings(value: Any, flat: list[bytes], label: str, depth: int) -> tuple[int, ...]:
    """Append the leaves of ``value`` to ``flat``; return its shape; reject ragged lists and non-strings."""
    if isinstance(value, list):
        shapes = {_walk_strings(item, flat, label, depth + 1) for item in value}
        if len(shapes) > 1:
            raise InvalidInput(f"{label} is ragged: nested lists must all have the same length")
        return (len(value), *(shapes.pop() if shapes else ()))
    flat.append(string_leaf(value, label))
    return ()


def string_leaf(value: Any, label: str) -> bytes:
    """A JSON string (UTF-8 encoded) or ``{"b64": "..."}`` (decoded) as bytes."""
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f'{label} has an invalid base64 value in {{"b64": ...}}') from None
    raise InvalidInput(f'{label} must hold strings or {{"b64": ...}} objects, got {_json_type(value)}')


def strings_to_json(arr: np.ndarray, binary: bool) -> Any:
    """Nested list of str; bytes that are not UTF-8 (or all values when ``binary``) become ``{"b64": ...}``."""

    def leaf(item: Any) -> Any:
        if isinstance(item, bytes):
            if not binary:
                try:
                    return item.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(item).decode("ascii")}
        return item

    def walk(node: Any) -> Any:
        return [walk(n) for n in node] if isinstance(node, list) else leaf(node)

    return walk(arr.tolist())


def output_to_json(name: str, arr: np.ndarray) -> Any:
    """An output tensor as a JSON-ready value: numpy for numbers (orjson writes it), lists for strings.

    As in TF Serving, string outputs whose name ends in ``_bytes`` are always base64-encoded.
    """
    if arr.dtype == object or arr.dtype.kind in "SU":
        return strings_to_json(arr, binary=name.endswith("_bytes"))
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2 and arr.dtype != np.float16:
        arr = arr.astype(np.float32)  # bfloat16: orjson writes float16/32/64 only
    return np.ascontiguousarray(arr)


def _expected(info: TensorInfo) -> str:
    kind = info.np_dtype.kind
    return "integers" + f" ({info.dtype})" if kind in "iu" else f"numbers ({info.dtype})"


def _describe_kind(arr: np.ndarray) -> str:
    if arr.dtype.kind in "US":
        return "strings"
    if arr.dtype == object:
        for item in arr.flat:
            if item is None or not isinstance(item, int | float) or isinstance(item, int) and abs(item) >= 2**63:
                return _json_type(item)
    return str(arr.dtype)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer out of range"
    return {dict: "an object", str: "a string", list: "a list", float: "a number"}.get(
        type(value), type(value).__name__
    )
