"""Which inputs a request sent as raw bytes (``{"b64": ...}`` values, the V2 binary extension): those are logged as
a summary, never as their bytes. Read from the parsed request body, only for a request that is logged.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def has_b64(value: Any) -> bool:
    """Whether a JSON value holds a ``{"b64": ...}`` object anywhere (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(item) == 1 and "b64" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(child for child in item if isinstance(child, list | dict))
    return False


def tfserving_bytes_inputs(body: Any, string_inputs: Collection[str]) -> frozenset[str]:
    """The inputs among ``string_inputs`` that a TF Serving predict body (row or columnar) fed with ``{"b64"}``.

    A value not keyed by input name belongs to the signature's only input, so it names all of ``string_inputs``.
    """
    if not string_inputs or not isinstance(body, dict):
        return frozenset()
    rows = body.get("instances")
    items = rows if isinstance(rows, list) else [body.get("inputs")]
    found: set[str] = set()
    for item in items:
        if isinstance(item, dict) and not (len(item) == 1 and "b64" in item):
            found.update(name for name in string_inputs if name in item and has_b64(item[name]))
        elif has_b64(item):
            found.update(string_inputs)
    return frozenset(found)


def v2_bytes_inputs(body: Any) -> frozenset[str]:
    """The inputs of a V2 inference body sent as bytes: in the binary extension, or as ``{"b64"}`` values.

    ``body`` has been through ``app.codecs.v2.decode_infer``: its inputs are objects with a string name.
    """
    found = set()
    for tensor in body.get("inputs") or ():
        binary = (tensor.get("parameters") or {}).get("binary_data_size") is not None
        if binary or (tensor.get("datatype") == "BYTES" and has_b64(tensor.get("data"))):  # numbers take no {"b64"}
            found.add(tensor["name"])
    return frozenset(found)
