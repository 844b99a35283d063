"""The V2 / Open Inference Protocol REST format (KServe ``required_api.md``), with Triton's binary tensor extension.

JSON tensors are ``{"name", "shape", "datatype", "data"}`` with ``data`` flat or nested in row-major order.
With the binary extension (what Triton's HTTP client sends by default) the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by raw little-endian tensors, one per input whose
``parameters.binary_data_size`` is set; outputs are returned the same way when the request asks for it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.codecs.jsonio import dumps, has_nonfinite
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


def decode_infer(body: Any, binary: bytes, sig_for: Any) -> InferRequest:
    """Decode a parsed JSON header plus the binary section that followed it (b"" when none)."""
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object with an 'inputs' list")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    params = _parameters(body.get("parameters"), "request")
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
        name, arr, used = _decode_tensor(tensor, sig, binary, offset)
        if name in inputs:
            raise InvalidInput(f"input {name!r} appears more than once")
        inputs[name] = arr
        offset += used
    if offset != len(binary):
        raise InvalidInput(f"binary section has {len(binary)} bytes but the inputs declare {offset}")
    output_names, binary_outputs = _requested_outputs(body.get("outputs"), sig, bool(params.get("binary_data_output")))
    return InferRequest(request_id, inputs, output_names, binary_outputs, signature_name)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} 'parameters' must be an object")
    return value


def _decode_tensor(tensor: Any, sig: SignatureInfo, binary: bytes, offset: int) -> tuple[str, np.ndarray, int]:
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
    datatype = tensor.get("datatype")
    if datatype not in V2_TO_DTYPE:
        raise InvalidInput(f"input {name!r}: unknown datatype {datatype!r}")
    if datatype != info.v2_datatype:
        raise InvalidInput(f"input {name!r} has datatype {datatype} but the model expects {info.v2_datatype}")
    count = math.prod(shape)
    size = _parameters(tensor.get("parameters"), f"input {name!r}").get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"input {name!r}: binary_data_size does not fit the binary section")
        arr = _from_binary(binary[offset : offset + size], info, count, name)
        return name, arr.reshape(shape), size
    if "data" not in tensor:
        raise InvalidInput(f"input {name!r} has no 'data'")
    arr = to_array(tensor["data"], info, f"input {name!r}")
    if arr.size != count:
        raise InvalidInput(f"input {name!r} has {arr.size} values but shape {shape} needs {count}")
    return name, arr.reshape(shape), 0


def _from_binary(raw: bytes, info: TensorInfo, count: int, name: str) -> np.ndarray:
    if info.is_string:
        items, pos = [], 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise InvalidInput(f"input {name!r}: truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, pos)
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
    return np.frombuffer(raw, dtype=dtype).astype(info.np_dtype, copy=False)


def _requested_outputs(value: Any, sig: SignatureInfo, all_binary: bool) -> tuple[list[str] | None, set[str]]:
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
        wants_binary = _parameters(item.get("parameters"), f"output {name!r}").get("binary_data", all_binary)
        if wants_binary:
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
