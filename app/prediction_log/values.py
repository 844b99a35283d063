"""Tensors as an entry logs them: ``{"<name>": [one value per row], ...}`` as JSON text.

Values follow the server's response JSON: strings as text, bytes that are not UTF-8 (and every value of a
``*_bytes`` output) as ``{"b64": ...}``, a rank-0 tensor as the value itself; NaN and Infinity become null (BigQuery's
JSON functions accept no other spelling). Two exceptions:

* A name in ``PREDICTION_LOG_REDACT`` is logged as the string ``"[REDACTED]"``; its values are never read.
* A value whose JSON would be longer than ``PREDICTION_LOG_MAX_BYTES``, or that the request sent as raw bytes, is
  logged as its summary ``{"shape": [...], "dtype": "...", "sha256": "<hex>"}`` (the hash of the array's bytes,
  row-major and little-endian, or of its strings' bytes one after the other), and the entry is marked truncated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson

from app.codecs.values import output_to_json
from app.prediction_log.wire import has_b64

REDACTED = "[REDACTED]"
_REDACTED_JSON = orjson.dumps(REDACTED)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class JsonInput(NamedTuple):
    """An input logged as the JSON the client sent (e.g. ``:classify``'s examples), summarized as ``tensor``."""

    value: Any
    tensor: np.ndarray


Loggable = np.ndarray | JsonInput


class Columns(NamedTuple):
    """The JSON text (bytes) of each value, by name, and the names logged as a summary."""

    fragments: dict[str, bytes]
    summarized: set[str]

    def text(self) -> str:
        """The fragments as one JSON object."""
        parts = (orjson.dumps(name) + b":" + fragment for name, fragment in self.fragments.items())
        return (b"{" + b",".join(parts) + b"}").decode()


def encode(
    values: Mapping[str, Loggable], redact: Collection[str], max_bytes: int, as_bytes: Collection[str]
) -> Columns:
    """Each value's JSON; its summary where it is longer than ``max_bytes`` or named in ``as_bytes``."""
    encoded = Columns({}, set())
    for name, value in values.items():
        if name in redact:
            encoded.fragments[name] = _REDACTED_JSON
            continue
        text = None if name in as_bytes else _json(name, value, redact, max_bytes)
        if text is None:
            text = summary(value)
            encoded.summarized.add(name)
        encoded.fragments[name] = text
    return encoded


def _json(name: str, value: Loggable, redact: Collection[str], max_bytes: int) -> bytes | None:
    """The value's JSON, or None when it is longer than ``max_bytes`` (or holds ``{"b64"}`` bytes)."""
    if isinstance(value, JsonInput):
        if has_b64(value.value):
            return None
        text = orjson.dumps(_redacted(value.value, redact))
    elif value.size * 2 - 1 > max_bytes:  # every value takes a character and a separator: too long, unread
        return None
    else:
        text = orjson.dumps(output_to_json(name, value), option=_NUMPY)
    return text if len(text) <= max_bytes else None


def summary(value: Loggable) -> bytes:
    """``{"shape", "dtype", "sha256"}`` of an array (of a JsonInput: of its tensor)."""
    arr = value.tensor if isinstance(value, JsonInput) else value
    dtype = "string" if arr.dtype == object else arr.dtype.name
    return orjson.dumps({"shape": list(arr.shape), "dtype": dtype, "sha256": sha256_hex(arr)})


def sha256_hex(arr: np.ndarray) -> str:
    """SHA-256 of a numeric array's bytes (row-major, little-endian), or of a string array's bytes concatenated."""
    digest = hashlib.sha256()
    if arr.dtype == object:
        for item in arr.flat:
            digest.update(item if isinstance(item, bytes) else str(item).encode())
        return digest.hexdigest()
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    digest.update(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))
    return digest.hexdigest()


def fit(parts: list[tuple[Columns, Mapping[str, Loggable]]], budget: int) -> None:
    """Summarize the longest values, in place, until all the fragments together come to at most ``budget`` bytes.

    Cloud Logging refuses an entry over 256 KB, and ``PREDICTION_LOG_MAX_BYTES`` bounds one tensor, not several.
    """
    total = sum(len(text) for columns, _ in parts for text in columns.fragments.values())
    candidates = sorted(
        ((columns, values, name) for columns, values in parts for name in columns.fragments),
        key=lambda item: len(item[0].fragments[item[2]]),
        reverse=True,
    )
    for columns, values, name in candidates:
        if total <= budget:
            return
        if name in columns.summarized or columns.fragments[name] == _REDACTED_JSON:
            continue
        replacement = summary(values[name])
        total += len(replacement) - len(columns.fragments[name])
        columns.fragments[name] = replacement
        columns.summarized.add(name)


def _redacted(value: Any, redact: Collection[str]) -> Any:
    """A JSON value with every object member named in ``redact`` replaced (e.g. a feature of an example)."""
    if not redact:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if k in redact else _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value
