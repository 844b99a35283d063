"""JSON values <-> numpy arrays for one tensor, with clear errors. Shared by the TF Serving and V2 codecs.

Policies: numbers too large for a float dtype (e.g. ``1e400``, or ``1e39`` for float32) become ±Infinity, as the
``Infinity`` token does; integer tensors take only integral, finite, in-range numbers; strings are UTF-8 encoded
as they are (NUL, bidi marks and other valid oddities pass through), and a lone surrogate escape (``"\\ud800"``),
which has no UTF-8 form, is a 400 (send such bytes as ``{"b64": ...}``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from app.codecs.limits import MAX_DIMS, Budget, Limits, outline
from app.errors import InvalidInput
from app.tensors import TensorInfo

_EXACT_FLOAT_INT = 2**53  # from here on, float64 cannot tell neighbouring integers apart


def to_array(value: Any, info: TensorInfo, label: str, budget: Budget | None = None, depth: int = 0) -> np.ndarray:
    """Convert a (nested) JSON value to an array of ``info``'s dtype. ``label`` names it in error messages.

    ``budget`` carries the request's limits and the values decoded so far (default: the default limits);
    ``depth`` is the number of JSON containers around ``value`` in the request body.
    """
    budget = budget or Budget(Limits())
    convert = _strings if info.is_string else _numbers
    arr = convert(value, info, label, budget, depth)
    budget.add(arr.size)
    return arr


def _numbers(value: Any, info: TensorInfo, label: str, budget: Budget, depth: int) -> np.ndarray:
    # The outline (first-element chain) bounds depth and size before numpy builds anything.
    levels, size = outline(value)
    budget.limits.check_depth(depth + levels)
    budget.check(size)
    if levels > MAX_DIMS:
        raise InvalidInput(f"{label} has {levels} dimensions; at most {MAX_DIMS} are supported")
    try:
        arr = np.asarray(value)
    except ValueError:
        raise InvalidInput(f"{label} is ragged: nested lists must all have the same length") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise InvalidInput(f"{label} must hold {_expected(info)}, got {_describe_kind(arr)}")
    target = info.np_dtype
    if not arr.size:
        return arr.astype(target)  # e.g. [[], []]: numpy says float64 whatever the tensor's dtype
    if target.kind == "b":
        if kind != "b":
            raise InvalidInput(f"{label} must hold booleans (true/false), got numbers")
        return arr
    if kind == "b":
        raise InvalidInput(f"{label} must hold {_expected(info)}, got booleans")
    if target.kind in "iu":
        return _integers(value, arr, target, label)
    with np.errstate(over="ignore"):  # out of the dtype's range: ±Infinity, by policy
        return arr.astype(target, copy=False)


def _integers(value: Any, arr: np.ndarray, target: np.dtype, label: str) -> np.ndarray:
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise InvalidInput(f"{label} must hold integers ({target.name}), got fractional or non-finite numbers")
        # A float from 2**53 on stands for several integers, so it may not be the number the client sent.
        if np.abs(arr).max() >= _EXACT_FLOAT_INT:
            arr = _exact_integers(value, arr.shape, target, label)
    limits = np.iinfo(target)
    if arr.min() < limits.min or arr.max() > limits.max:
        raise InvalidInput(f"{label} has values outside the range of {target.name}")
    return arr.astype(target, copy=False)


def _exact_integers(value: Any, shape: tuple[int, ...], target: np.dtype, label: str) -> np.ndarray:
    """The rare path for large integers that numpy read as float64: keep them exact if they were integer literals.

    numpy makes float64 of int64 and uint64 values together (e.g. ``[1, 2**63]`` for a uint64 tensor), and orjson
    reads integers beyond (u)int64 as floats (``-9223372036854775809`` would become -2**63, in range).
    """
    exact = np.array(value, dtype=object)
    if exact.shape != shape or not all(type(item) is int for item in exact.flat):
        raise InvalidInput(
            f"{label} has integers of magnitude 2**53 or more that were read as floats, so inexactly: "
            f"write them as integer literals (no fraction or exponent) within the range of {target.name}"
        )
    return exact


def _strings(value: Any, info: TensorInfo, label: str, budget: Budget, depth: int) -> np.ndarray:
    """Nested lists of strings as an object array of bytes, walked level by level (no recursion)."""
    shape: list[int] = []
    level = [value]
    while level and isinstance(level[0], list):
        size = len(level[0])
        if not all(isinstance(item, list) and len(item) == size for item in level):
            raise InvalidInput(f"{label} is ragged: nested lists must all have the same length")
        shape.append(size)
        budget.limits.check_depth(depth + len(shape))
        budget.check(len(level) * size)
        level = [leaf for item in level for leaf in item]
    if any(isinstance(item, list) for item in level):
        raise InvalidInput(f"{label} is ragged: nested lists must all have the same length")
    arr = np.empty(len(level), dtype=object)
    arr[:] = [string_leaf(item, label, budget.limits) for item in level]
    return arr.reshape(shape)


def string_leaf(value: Any, label: str, limits: Limits | None = None) -> bytes:
    """A JSON string (UTF-8 encoded) or ``{"b64": "..."}`` (decoded) as bytes, within ``MAX_STRING_BYTES``."""
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{label} has a string with a lone surrogate escape such as \\ud800, which is not valid Unicode; "
                'send arbitrary bytes as {"b64": ...}'
            ) from None
    elif isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            data = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f'{label} has an invalid base64 value in {{"b64": ...}}') from None
    else:
        raise InvalidInput(f'{label} must hold strings or {{"b64": ...}} objects, got {_json_type(value)}')
    (limits or Limits()).check_string(len(data), label)
    return data


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

    As in TF Serving, string outputs whose name ends in ``_bytes`` are always base64-encoded. A scalar (rank 0)
    output is a JSON scalar.
    """
    if arr.dtype == object or arr.dtype.kind in "SU":
        return strings_to_json(arr, binary=name.endswith("_bytes"))
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2 and arr.dtype != np.float16:
        arr = arr.astype(np.float32)  # bfloat16: orjson writes float16/32/64 only
    if arr.ndim == 0:
        return arr.item()  # orjson writes arrays of rank >= 1 only
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
        return "an integer out of range" if abs(value) >= 2**63 else "a number"
    return {dict: "an object", str: "a string", list: "a list", float: "a number"}.get(
        type(value), type(value).__name__
    )
