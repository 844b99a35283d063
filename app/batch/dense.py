"""A whole batch of numeric lines decoded in one step, without a Python object per nesting level.

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
        try:
            flat = orjson.loads(b"[" + numbers + b"]")
        except orjson.JSONDecodeError:
            return None
        if len(flat) != len(lines) * math.prod(shape):
            return None
        try:
            # The limits the codec applies to the nested batch: instances, nesting (body, instances, the row's
            # levels), values. to_array then converts the numbers exactly as it converts nested ones.
            self.limits.check_instances(len(lines))
            self.limits.check_depth(2 + len(shape))
            array = to_array(flat, self.info, self._label, Budget(self.limits), depth=1)
        except InvalidInput:
            return None
        return {self.info.name: array.reshape((len(lines), *shape))}


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


@lru_cache(maxsize=16)  # a job sees one shape; bounded all the same, since the lines choose the shapes
def _template(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a nested list of ``shape``, numbers left out: (2, 1) -> ``[[],[]]``."""
    template = b""
    for size in reversed(shape):
        template = b"[" + b",".join([template] * size) + b"]"
    return template
