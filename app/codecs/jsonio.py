"""Fast JSON in and out (orjson), with the TF Serving policy for non-finite floats.

Policy (as TF Serving's REST API): requests may carry the tokens ``NaN``, ``Infinity`` and ``-Infinity`` for float
tensors, and responses carry them where the model outputs non-finite floats. orjson handles the common, finite case;
the standard library handles the rest. Bodies are UTF-8 (RFC 8259); a leading UTF-8 byte order mark is ignored.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from app.codecs.limits import Limits
from app.errors import InvalidInput

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_BOM = b"\xef\xbb\xbf"


def loads(body: bytes, limits: Limits | None = None) -> Any:
    """Parse a request body. Raises InvalidInput with the parser's position, never echoing the payload."""
    if body.startswith(_BOM):
        body = body[len(_BOM) :]  # some Windows tools write one; it carries no meaning in UTF-8
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # NaN/Infinity tokens, out-of-range numbers, lone surrogate escapes, too deep, or invalid.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("request body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        depth = (limits or Limits()).max_nesting_depth
        raise InvalidInput(
            f"request body is nested too deeply to parse; the limit is {depth} levels (MAX_NESTING_DEPTH)"
        ) from None
    except ValueError:  # an integer literal longer than Python's int_max_str_digits (4300 digits)
        raise InvalidInput("request body has a number with too many digits") from None


def dumps(payload: Any, nonfinite: bool = False) -> bytes:
    """Serialize a response. ``nonfinite`` says some float array holds NaN or ±Infinity."""
    if not nonfinite:
        return orjson.dumps(payload, option=_DUMP_OPTIONS)
    return json.dumps(payload, default=_plain, allow_nan=True, separators=(",", ":")).encode()


def has_nonfinite(arrays: Any) -> bool:
    """Whether any float array among ``arrays`` holds NaN or ±Infinity."""
    return any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in arrays)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__}")
