"""Fast JSON in and out (orjson), with the TF Serving policy for non-finite floats.

Policy (as TF Serving's REST API): requests may carry the tokens ``NaN``, ``Infinity`` and ``-Infinity`` for float
tensors, and responses carry them where the model outputs non-finite floats. orjson handles the common, finite case;
the standard library handles the rest.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from app.errors import InvalidInput

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def loads(body: bytes) -> Any:
    """Parse a request body. Raises InvalidInput with the parser's position, never echoing the payload."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # NaN/Infinity tokens, integers over 64 bits, or truly invalid: let the standard library decide.
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput("request body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidInput("request body is nested too deeply") from None


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
