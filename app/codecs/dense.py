"""Numeric tensors decoded from their bytes in one step, without a Python object per nesting level.

Used for a batch job's lines (``DenseLines``) and for the server's commonest body, ``{"instances": [numbers...]}``
(``dense_instances``).

Lines for an image or vector model are nested lists of numbers (``[[[0.0],[0.5]],...]``) for a one-input
signature. Parsed line by line, a 28x28x1 image becomes 1,568 Python lists that numpy then walks one by one: that
costs several times the model call. Here the lines' structure is checked on their bytes instead, and only the
numbers go through orjson, as one flat list for the whole batch.

This is only a shortcut. ``decode`` returns an array only when every line is certain to decode exactly as the
codec decodes it (same values, dtype and shape, no limit exceeded); otherwise it returns None and the codec
decides, so every error and its wording come from one place. Why the checks below are enough:

- once numbers and JSON whitespace are removed, a line must be exactly the brackets and commas of the expected
  shape (``_template``), so any other character (quotes, letters of ``NaN`` or ``true``, a byte order mark)
  and any other nesting fall back;
- no number may touch a ``]`` before it or a ``[`` after it, which leaves numbers only in the innermost lists;
- with brackets turned into spaces, orjson must read the batch as a flat list of exactly one number per slot:
  that rejects empty slots, two numbers in one slot and anything that is not a JSON number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import orjson

from app.codecs.limits import MAX_DIMS, Budget, Limits
from app.codecs.values import to_array
from app.errors import InvalidInput
from app.tensors import SignatureInfo, TensorInfo

_NUMBER = b"0123456789.eE+-"
_WHITESPACE = b" \t\r\n"  # JSON's; other bytes that Python calls whitespace are not, and fall back
_MARK_NUMBERS = bytes.maketrans(_NUMBER, b"0" * len(_NUMBER))
_BRACKETS_TO_SPACES = bytes.maketrans(b"[]", b"  ")


class DenseLines:
    """Decodes batches of lines that each hold one nested list of numbers of the same shape."""

    def __init__(self, info: TensorInfo, limits: Limits) -> None:
        self.info = info
        self.limits = limits
        self._label = f"input {info.name!r}"

    @classmethod
    def for_signature(cls, signature: SignatureInfo, limits: Limits) -> DenseLines | None:
        """The decoder for ``signature``, or None when its lines cannot be plain numbers (several inputs,
        strings, booleans)."""
        if len(signature.inputs) != 1:
            return None
        (info,) = signature.inputs.values()
        return cls(info, limits) if info.np_dtype.kind in "iuf" else None

    def decode(self, lines: Sequence[bytes]) -> dict[str, np.ndarray] | None:
        """The batch's inputs, as the codec would decode ``{"instances": [line, ...]}``; None to let it decide.

        ``lines`` are non-blank; the result still has to pass ``check_inputs`` against the signature.
        """
        shape = _row_shape(lines[0])
        if shape is None or math.prod(shape) == 0 or len(shape) + 1 > MAX_DIMS:
            return None  # no number to read, or more dimensions than the codec takes
        template = _template(shape)
        for line in lines:
            marked = line.translate(_MARK_NUMBERS, _WHITESPACE)
            if b"]0" in marked or b"0[" in marked or marked.translate(None, b"0") != template:
                return None
        numbers = b",".join([line.translate(_BRACKETS_TO_SPACES) for line in lines])
        # The limits the codec applies to the nested batch (instances, nesting, values), then its own conversion.
        array = _flat_numbers(numbers, (len(lines), *shape), self.info, self.limits)
        return None if array is None else {self.info.name: array}


def _row_shape(line: bytes) -> tuple[int, ...] | None:
    """The shape of one line's nested list, judged by its first elements (the template check does the rest)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    shape = []
    while isinstance(value, list) and value:
        shape.append(len(value))
        value = value[0]
    return tuple(shape) if isinstance(value, int | float) and not isinstance(value, bool) else None


_INSTANCES_BODY = re.compile(rb"\A[ \t\r\n]*\{[ \t\r\n]*\"instances\"[ \t\r\n]*:(.*)\}[ \t\r\n]*\Z", re.S)
_SHAPES: dict[bytes, tuple[int, ...]] = {}  # the structure of a body's instances (numbers left out) -> its shape
_SHAPES_KEPT = 16
_SHAPE_KEY_BYTES = 64 * 1024  # structures longer than this are not remembered (16 of them stay small)


def dense_instances(raw: bytes, info: TensorInfo, limits: Limits) -> np.ndarray | None:
    """``{"instances": [...]}`` of plain numbers for the one input ``info``, as the codec would decode it; None to
    let the codec decide (any other body, any doubt, any limit exceeded).

    A client sends the same shape again and again: the structure of the instances (brackets and commas) is
    remembered with its shape once the codec has parsed one such body the slow way (``remember_shape``), and a
    body with a known structure then costs one flat parse of its numbers.
    """
    match = _INSTANCES_BODY.match(raw)
    if match is None:
        return None
    data = match[1]
    marked = data.translate(_MARK_NUMBERS, _WHITESPACE)
    shape = _SHAPES.get(marked.translate(None, b"0"))
    if shape is None or b"]0" in marked or b"0[" in marked:
        return None
    return _flat_numbers(data.translate(_BRACKETS_TO_SPACES), shape, info, limits)


def remember_shape(raw: bytes, shape: tuple[int, ...]) -> None:
    """After the codec decoded ``raw`` (an ``{"instances": ...}`` body) to an array of ``shape``: remember it."""
    match = _INSTANCES_BODY.match(raw)
    if match is None or not shape or math.prod(shape) == 0 or len(_SHAPES) >= _SHAPES_KEPT:
        return
    structure = match[1].translate(_MARK_NUMBERS, _WHITESPACE).translate(None, b"0")
    # Only numbers and brackets, in exactly this shape.
    if len(structure) <= _SHAPE_KEY_BYTES and structure == _template(shape):
        _SHAPES[structure] = shape


def _flat_numbers(numbers: bytes, shape: tuple[int, ...], info: TensorInfo, limits: Limits) -> np.ndarray | None:
    """``numbers`` (the data with brackets turned into spaces) as an array of ``shape``, or None."""
    try:
        flat = orjson.loads(b"[" + numbers + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(flat) != math.prod(shape):
        return None
    try:
        limits.check_instances(shape[0])
        limits.check_depth(1 + len(shape))  # the body object, then the instances' levels
        array = to_array(flat, info, f"input {info.name!r}", Budget(limits), depth=1)
    except InvalidInput:
        return None
    return array.reshape(shape)


@lru_cache(maxsize=16)  # a job sees one shape; bounded all the same, since the lines choose the shapes
def _template(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a nested list of ``shape``, numbers left out: (2, 1) -> ``[[],[]]``."""
    template = b""
    for size in reversed(shape):
        template = b"[" + b",".join([template] * size) + b"]"
    return template
