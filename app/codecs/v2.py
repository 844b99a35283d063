"""The V2 / Open Inference Protocol REST format (KServe ``required_api.md``), with Triton's binary tensor extension.

JSON tensors are ``{"name", "shape", "datatype", "data"}`` with ``data`` flat or nested in row-major order.
With the binary extension (what Triton's HTTP client sends by default) the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by raw little-endian tensors, one per input whose
``parameters.binary_data_size`` is set; outputs are returned the same way when the request asks for it.

Unknown fields are ignored, as Triton does. A tensor's first dimension counts as its rows (``MAX_INSTANCES``), and a
request must carry at least one: ``shape: [0, ...]`` is a 400. Declared shapes are checked against
``MAX_ELEMENTS`` before any data is converted, so a shape such as ``[1000000000, 1000000000]`` allocates nothing.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.codecs.jsonio import dumps, has_nonfinite
from app.codecs.limits import MAX_DIMS, Budget, Limits, check_free_form
from app.codecs.values import output_to_json, to_array
from app.errors import InvalidInput
from app.tensors import V2_TO_DTYPE, SignatureInfo, TensorInfo

BINARY_HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class InferRequest:
    """A decoded V2 inference request."""

    id: str | None
    inputs: dict[str, np.ndarray]
    output_names: list[str] | None  # None: all outputs
    binary_outputs: set[str] = field(default_factory=set)
    signature_name: str | None = None


def decode_infer(body: Any, binary: bytes, sig_for: Any, limits: Limits | None = None) -> InferRequest:
    """Decode a parsed JSON header plus the binary section that followed it (b"" when none).

    ``limits`` (default: the default ``Limits``) bounds the rows, values, nesting and string sizes.
    """
    budget = Budget(limits or Limits())
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object with an 'inputs' list")
    request_id = _request_id(body.get("id"), budget.limits)
    params = _parameters(body.get("parameters"), "request", budget.limits, depth=1)
    signature_name = params.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise InvalidInput("parameter 'signature_name' must be a string")
    sig: SignatureInfo = sig_for(signature_name)
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in tensors:
        name, arr, used = _decode_tensor(tensor, sig, binary, offset, budget)
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears more than once")
        inputs[name] = arr
        offset += used
    if offset != len(binary):
        raise InvalidInput(f"binary section has {len(binary)} bytes but the inputs declare {offset}")
    output_names, binary_outputs = _requested_outputs(
        body.get("outputs"), sig, params.get("binary_data_output", False), budget.limits
    )
    return InferRequest(request_id, inputs, output_names, binary_outputs, signature_name)


def _request_id(value: Any, limits: Limits) -> str | None:
    """The request's ``id``, echoed in the response: a string that UTF-8 can carry."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("'id' must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("'id' has a lone surrogate escape such as \\ud800, which is not valid Unicode") from None
    limits.check_string(size, "'id'")
    return value


def _parameters(value: Any, where: str, limits: Limits, depth: int) -> dict[str, Any]:
    """A ``parameters`` object (None: empty) ``depth`` containers deep in the body."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} 'parameters' must be an object")
    check_free_form(value, limits, depth)
    return value


def _flag(params: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{where} parameter {key!r} must be true or false")
    return value


def _decode_tensor(
    tensor: Any, sig: SignatureInfo, binary: bytes, offset: int, budget: Budget
) -> tuple[str, np.ndarray, int]:
    if not isinstance(tensor, dict):
        raise InvalidInput("each input must be an object with 'name', 'shape', 'datatype' and 'data'")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidInput("each input needs a string 'name'")
    info = sig.inputs.get(name)
    if info is None:
        raise InvalidInput(f"unknown input {name!r}; the model's inputs are: {', '.join(sig.inputs)}")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidInput(f"input {name!r}: 'shape' must be a list of non-negative integers")
    limits = budget.limits
    if len(shape) > MAX_DIMS:
        raise InvalidInput(f"input {name!r} has {len(shape)} dimensions; at most {MAX_DIMS} are supported")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in V2_TO_DTYPE:
        raise InvalidInput(f"input {name!r}: unknown datatype {datatype!r}")
    if datatype != info.v2_datatype:
        raise InvalidInput(f"input {name!r} has datatype {datatype} but the model expects {info.v2_datatype}")
    if shape:
        if shape[0] == 0:
            raise InvalidInput(f"input {name!r} has an empty batch (shape {shape}): send at least one example")
        limits.check_instances(shape[0])
    # Checked before any data is looked at. A dimension over the limit could only pass with another one at 0.
    huge = [d for d in shape if d > limits.max_elements]
    if huge:
        raise InvalidInput(
            f"input {name!r} has a dimension of {huge[0]}; the limit is {limits.max_elements} values (MAX_ELEMENTS)"
        )
    count = math.prod(shape)
    budget.check(count)
    size = _parameters(tensor.get("parameters"), f"input {name!r}", limits, depth=3).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"input {name!r}: binary_data_size does not fit the binary section")
        arr = _from_binary(binary[offset : offset + size], info, count, name, limits)
        budget.add(count)
        return name, arr.reshape(shape), size
    if "data" not in tensor:
        raise InvalidInput(f"input {name!r} has no 'data'")
    # The data sits in body -> inputs -> tensor object.
    arr = to_array(tensor["data"], info, f"input {name!r}", budget, depth=3)
    if arr.size != count:
        raise InvalidInput(f"input {name!r} has {arr.size} values but shape {shape} needs {count}")
    return name, arr.reshape(shape), 0


def _from_binary(raw: bytes, info: TensorInfo, count: int, name: str, limits: Limits) -> np.ndarray:
    if info.is_string:
        items, pos = [], 0
        while pos < len(raw) and len(items) <= count:
            if pos + 4 > len(raw):
                raise InvalidInput(f"input {name!r}: truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, pos)
            limits.check_string(length, f"input {name!r}")
            items.append(raw[pos + 4 : pos + 4 + length])
            pos += 4 + length
        if pos != len(raw) or len(items) != count:
            raise InvalidInput(f"input {name!r}: binary data holds {len(items)} elements, shape needs {count}")
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr
    dtype = info.np_dtype.newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(f"input {name!r}: {len(raw)} bytes of binary data, shape needs {count * dtype.itemsize}")
    if dtype.kind == "b":
        return np.frombuffer(raw, dtype=np.uint8) != 0  # any non-zero byte is true, as in C
    return np.frombuffer(raw, dtype=dtype).astype(info.np_dtype, copy=False)


def _requested_outputs(
    value: Any, sig: SignatureInfo, all_binary: Any, limits: Limits
) -> tuple[list[str] | None, set[str]]:
    if not isinstance(all_binary, bool):
        raise InvalidInput("request parameter 'binary_data_output' must be true or false")
    if value is None:
        return None, set(sig.outputs) if all_binary else set()
    if not isinstance(value, list):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...} objects")
    names, binary = [], set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput("each requested output must be an object with a string 'name'")
        name = item["name"]
        if name not in sig.outputs:
            raise InvalidInput(f"unknown output {name!r}; the model's outputs are: {', '.join(sig.outputs)}")
        names.append(name)
        params = _parameters(item.get("parameters"), f"output {name!r}", limits, depth=3)
        if _flag(params, "binary_data", f"output {name!r}", all_binary):
            binary.add(name)
    return names, binary


def encode_infer(
    model_name: str,
    version: int,
    request: InferRequest,
    outputs: Mapping[str, np.ndarray],
    sig: SignatureInfo,
) -> tuple[bytes, dict[str, str]]:
    """The response body and any extra headers (the binary extension's header length)."""
    tensors, blobs = [], []
    for name, arr in outputs.items():
        info = sig.outputs[name]
        entry: dict[str, Any] = {"name": name, "datatype": info.v2_datatype, "shape": list(arr.shape)}
        if name in request.binary_outputs:
            blob = _to_binary(arr, info)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = output_to_json(name, arr.reshape(-1))
        tensors.append(entry)
    payload: dict[str, Any] = {"model_name": model_name, "model_version": str(version), "outputs": tensors}
    if request.id is not None:
        payload = {"id": request.id, **payload}
    header = dumps(payload, has_nonfinite(a for n, a in outputs.items() if n not in request.binary_outputs))
    if not blobs:
        return header, {}
    return header + b"".join(blobs), {BINARY_HEADER: str(len(header))}


def _to_binary(arr: np.ndarray, info: TensorInfo) -> bytes:
    if info.is_string:
        return b"".join(struct.pack("<I", len(b)) + b for b in (_as_bytes(x) for x in arr.reshape(-1)))
    return np.ascontiguousarray(arr, dtype=info.np_dtype.newbyteorder("<")).tobytes()


def _as_bytes(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode()
