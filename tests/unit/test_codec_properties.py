"""Properties of the wire codecs, checked with hypothesis over the hand-built signatures (no Flask, no TensorFlow).

1. Decoding anything (random JSON values, random V2 tensors, random binary sections, random bytes as a body) either
   succeeds with arrays of the signature's dtypes or raises InvalidInput/NotFound: never another exception.
2. Arrays encoded as a client would (row and columnar; V2 flat, nested and binary) decode back to equal arrays.
3. Encoding any outputs (finite or not) never raises and gives JSON that parses back to the same values.
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.codecs.jsonio import loads
from app.codecs.limits import Limits
from app.codecs.tfserving import decode_predict, encode_predict
from app.codecs.v2 import InferRequest, decode_infer, encode_infer
from app.errors import InvalidInput, NotFound
from app.tensors import V2_TO_DTYPE, SignatureInfo, TensorInfo
from tests.unit.signatures import ALL

# Wider dtype coverage than tests/unit/signatures.py: every integer width, halves and doubles, unknown dimensions.
WIDE = SignatureInfo(
    "wide",
    inputs={
        "i64": TensorInfo("i64", "int64", (None, None)),
        "u64": TensorInfo("u64", "uint64", (None,)),
        "u8": TensorInfo("u8", "uint8", (None, 2)),
        "i8": TensorInfo("i8", "int8", (None,)),
        "f16": TensorInfo("f16", "float16", (None,)),
        "f64": TensorInfo("f64", "float64", (None, None)),
        "flags": TensorInfo("flags", "bool", (None, None)),
    },
    outputs={"f64": TensorInfo("f64", "float64", (None, None))},
)
ANY_RANK = SignatureInfo(
    "any_rank",
    inputs={"t": TensorInfo("t", "string", None)},
    outputs={"t_bytes": TensorInfo("t_bytes", "string", None)},
)
SIGNATURES = {**ALL, WIDE.name: WIDE, ANY_RANK.name: ANY_RANK}
LIMITS = Limits(max_instances=50, max_elements=2_000, max_nesting_depth=12, max_string_bytes=64)
# No example database: nothing is written into the work tree (a failure prints the example to reproduce it).
PROPERTIES = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PER_SIGNATURE = settings(PROPERTIES, max_examples=100)  # parametrized over the signatures: 100 each
EXPECTED = (InvalidInput, NotFound)


def signature_for(name: str | None) -> SignatureInfo:
    try:
        return SIGNATURES[name or "serving_default"]
    except KeyError:
        raise NotFound(f"signature {name!r} not found") from None


def check_dtypes(inputs: dict[str, np.ndarray], sig: SignatureInfo) -> None:
    for name, arr in inputs.items():
        info = sig.inputs[name]
        assert arr.dtype == info.np_dtype, (name, arr.dtype, info.dtype)
        if info.is_string:
            assert all(type(item) is bytes for item in arr.flat)
        assert arr.size <= LIMITS.max_elements


# -- 1. decoding never fails in an unexpected way --------------------------------------------------------------------
names = st.sampled_from(sorted({n for s in SIGNATURES.values() for n in s.inputs} | {"b64", "x"}))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(width=16)
    | st.text(max_size=8)
    | st.text(alphabet=st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=2)  # lone surrogates
    | st.binary(max_size=8).map(lambda b: {"b64": base64.b64encode(b).decode()})
    | st.builds(lambda v: {"b64": v}, st.text(max_size=8) | st.integers())
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(names | st.text(max_size=4), children, max_size=3)
        # rectangular numeric blocks, which get further into the codecs than random lists do
        | st.integers(1, 3).flatmap(
            lambda n: st.lists(st.lists(children, min_size=n, max_size=n), min_size=1, max_size=3)
        )
    ),
    max_leaves=24,
)
signature_names = st.sampled_from([*SIGNATURES, None, "", "nope"])


@PROPERTIES
@given(body=json_values)
def test_any_json_body_decodes_or_is_rejected(body):
    for decode in (lambda: decode_predict(body, signature_for, LIMITS), lambda: decode_infer(body, b"", signature_for)):
        with contextlib.suppress(EXPECTED):
            decode()


@PROPERTIES
@given(
    field=st.sampled_from(["instances", "inputs"]),
    value=json_values | st.dictionaries(names, json_values, min_size=1, max_size=4),
    name=signature_names,
    extra=st.dictionaries(st.sampled_from(["parameters", "signature_name", "foo"]), json_values, max_size=1),
)
def test_tf_serving_decode_succeeds_with_signature_dtypes_or_is_rejected(field, value, name, extra):
    body = {"signature_name": name, **extra, field: value}
    try:
        request = decode_predict(body, signature_for, LIMITS)
    except EXPECTED as exc:
        event(f"rejected: {type(exc).__name__}")
        return
    event("decoded")
    check_dtypes(request.inputs, signature_for(request.signature_name))


v2_shapes = st.lists(st.integers(min_value=-1, max_value=4) | st.integers(min_value=0, max_value=2**70), max_size=4)
v2_tensors = st.fixed_dictionaries(
    {},
    optional={
        "name": names | json_values,
        "shape": v2_shapes | json_values,
        "datatype": st.sampled_from(sorted(V2_TO_DTYPE)) | json_values,
        "data": json_values,
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-1, 40) | json_values}) | json_values,
    },
)


@PROPERTIES
@given(
    tensors=st.lists(v2_tensors, max_size=3) | json_values,
    binary=st.binary(max_size=40),
    name=signature_names,
    outputs=json_values | st.lists(st.fixed_dictionaries({"name": names | json_values}), max_size=2),
    flag=json_values,
)
def test_v2_decode_succeeds_with_signature_dtypes_or_is_rejected(tensors, binary, name, outputs, flag):
    body = {"inputs": tensors, "parameters": {"signature_name": name, "binary_data_output": flag}, "outputs": outputs}
    try:
        request = decode_infer(body, binary, signature_for, LIMITS)
    except EXPECTED as exc:
        event(f"rejected: {type(exc).__name__}")
        return
    event("decoded")
    check_dtypes(request.inputs, signature_for(request.signature_name))


@PROPERTIES
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_any_bytes_parse_or_are_rejected(raw):
    with contextlib.suppress(InvalidInput):
        loads(raw)


# -- 2. round trips --------------------------------------------------------------------------------------------------
def element_strategy(info: TensorInfo) -> st.SearchStrategy | None:
    if info.is_string:
        return st.binary(max_size=6)
    if info.np_dtype.kind == "f":
        return st.floats(width=8 * info.np_dtype.itemsize, allow_nan=True, allow_infinity=True)
    return None  # hypothesis.extra.numpy's default for the dtype: the whole range


@st.composite
def signature_arrays(draw: st.DrawFn, sig: SignatureInfo, shape_in_json: bool) -> dict[str, np.ndarray]:
    """One array per input of ``sig``, sharing a batch size; unknown dimensions get a random size (0 allowed).

    Without a declared shape (``shape_in_json``: TF Serving), nested lists cannot tell (1, 0, 2) from (1, 0): a 0
    is drawn only for the last dimension there.
    """
    batch = draw(st.integers(1, 3))
    rank = draw(st.integers(1, 3))
    arrays = {}
    for name, info in sig.inputs.items():
        dims = info.shape if info.shape is not None else (None,) * rank
        last = len(dims) - 1
        shape = (
            batch,
            *(
                d if d is not None else draw(st.integers(int(shape_in_json and i < last), 3))
                for i, d in enumerate(dims)
                if i
            ),
        )
        dtype = np.dtype(object) if info.is_string else info.np_dtype
        if info.is_string:
            flat = draw(st.lists(st.binary(max_size=6), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
            arr = np.empty(len(flat), dtype=object)
            arr[:] = flat
            arrays[name] = arr.reshape(shape)
        else:
            arrays[name] = draw(hnp.arrays(dtype, shape, elements=element_strategy(info)))
    return arrays


def client_json(arr: np.ndarray, as_text: bool) -> object:
    """What a client sends for ``arr``: lists of numbers, or strings (UTF-8 text where possible, else b64)."""
    if arr.dtype != object:
        return arr.tolist()

    def leaf(item: bytes) -> object:
        if as_text:
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(item).decode()}

    return np.frompyfunc(leaf, 1, 1)(arr).tolist() if arr.ndim else leaf(arr.item())


def send(payload: object) -> object:
    """Encode as Python clients do (NaN/Infinity tokens allowed) and parse as the server does."""
    return loads(json.dumps(payload, allow_nan=True).encode())


def assert_same(decoded: dict[str, np.ndarray], arrays: dict[str, np.ndarray], sig: SignatureInfo) -> None:
    assert decoded.keys() == arrays.keys()
    for name, arr in arrays.items():
        got = decoded[name]
        assert got.shape == arr.shape and got.dtype == sig.inputs[name].np_dtype
        if arr.dtype.kind == "f":
            assert np.array_equal(got, arr, equal_nan=True)
        else:
            assert got.tolist() == arr.tolist()


@pytest.mark.parametrize("sig", SIGNATURES.values(), ids=list(SIGNATURES))
@PER_SIGNATURE
@given(data=st.data(), as_text=st.booleans())
def test_tf_serving_round_trip(sig, data, as_text):
    arrays = data.draw(signature_arrays(sig, shape_in_json=True))
    values = {name: client_json(arr, as_text) for name, arr in arrays.items()}
    batch = len(next(iter(values.values())))
    rows = [{name: value[i] for name, value in values.items()} for i in range(batch)]
    bodies = [{"instances": rows}, {"inputs": values}]
    if len(sig.inputs) == 1:
        (only,) = values.values()
        bodies += [{"instances": only}, {"inputs": only}]
    for body in bodies:
        request = decode_predict(send({"signature_name": sig.name, **body}), signature_for, LIMITS)
        assert_same(request.inputs, arrays, sig)


def to_binary(arr: np.ndarray, info: TensorInfo) -> bytes:
    if info.is_string:
        return b"".join(struct.pack("<I", len(item)) + item for item in arr.flat)
    return arr.astype(info.np_dtype.newbyteorder("<")).tobytes()


@pytest.mark.parametrize("sig", SIGNATURES.values(), ids=list(SIGNATURES))
@PER_SIGNATURE
@given(data=st.data(), as_text=st.booleans())
def test_v2_round_trip(sig, data, as_text):
    arrays = data.draw(signature_arrays(sig, shape_in_json=False))

    def tensor(name: str, arr: np.ndarray, data: object) -> dict:
        info = sig.inputs[name]
        return {"name": name, "shape": list(arr.shape), "datatype": info.v2_datatype, "data": data}

    params = {"signature_name": sig.name}
    for layout in (lambda a: client_json(a.reshape(-1), as_text), lambda a: client_json(a, as_text)):
        body = {"parameters": params, "inputs": [tensor(n, a, layout(a)) for n, a in arrays.items()]}
        assert_same(decode_infer(send(body), b"", signature_for, LIMITS).inputs, arrays, sig)
    blobs = [to_binary(a, sig.inputs[n]) for n, a in arrays.items()]
    header = {
        "parameters": params,
        "inputs": [
            {**tensor(n, a, None), "parameters": {"binary_data_size": len(b)}}
            for (n, a), b in zip(arrays.items(), blobs, strict=True)
        ],
    }
    for item in header["inputs"]:
        del item["data"]
    assert_same(decode_infer(send(header), b"".join(blobs), signature_for, LIMITS).inputs, arrays, sig)


# -- 2b. near-valid requests: valid bodies with a few parts replaced by random JSON ---------------------------------
def mutate(body: object, data: st.DataObject) -> object:
    """Replace a random part of ``body`` (found by a random walk from the top) with a random JSON value."""
    if not isinstance(body, list | dict) or not body or data.draw(st.integers(0, 4)) == 0:
        return data.draw(json_values)
    if isinstance(body, list):
        i = data.draw(st.integers(0, len(body) - 1))
        return [*body[:i], mutate(body[i], data), *body[i + 1 :]]
    key = data.draw(st.sampled_from(sorted(body)))
    return {**body, key: mutate(body[key], data)}


@pytest.mark.parametrize("sig", SIGNATURES.values(), ids=list(SIGNATURES))
@settings(PER_SIGNATURE, max_examples=60)
@given(data=st.data(), mutations=st.integers(1, 3), as_text=st.booleans())
def test_near_valid_requests_decode_or_are_rejected(sig, data, mutations, as_text):
    arrays = data.draw(signature_arrays(sig, shape_in_json=False))
    values = {name: client_json(arr, as_text) for name, arr in arrays.items()}
    v1 = {"signature_name": sig.name, "inputs": values}
    tensors = [
        {"name": n, "shape": list(a.shape), "datatype": sig.inputs[n].v2_datatype, "data": values[n]}
        for n, a in arrays.items()
    ]
    v2 = {"parameters": {"signature_name": sig.name}, "inputs": tensors}
    blobs = [to_binary(a, sig.inputs[n]) for n, a in arrays.items()]
    binary = b"".join(blobs)
    v2_binary = {
        "parameters": {"signature_name": sig.name},
        "inputs": [
            {**{k: v for k, v in t.items() if k != "data"}, "parameters": {"binary_data_size": len(blob)}}
            for t, blob in zip(tensors, blobs, strict=True)
        ],
    }
    for _ in range(mutations):
        v1, v2, v2_binary = mutate(v1, data), mutate(v2, data), mutate(v2_binary, data)
    if data.draw(st.booleans()):
        binary = data.draw(st.binary(max_size=len(binary) + 8))
    decoders = (
        (decode_predict, v1),
        (lambda b, f, lim: decode_infer(b, b"", f, lim), v2),
        (lambda b, f, lim: decode_infer(b, binary, f, lim), v2_binary),
    )
    for decode, body in decoders:
        try:
            request = decode(body, signature_for, LIMITS)
        except EXPECTED as exc:
            event(f"rejected: {type(exc).__name__}")
            continue
        event("decoded")
        check_dtypes(request.inputs, signature_for(request.signature_name))


# -- 3. encoding outputs ---------------------------------------------------------------------------------------------
output_dtypes = st.sampled_from(["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "uint64", "bool"])


@st.composite
def outputs(draw: st.DrawFn, batch: int | None) -> dict[str, tuple[np.ndarray, TensorInfo]]:
    """Named output arrays of random dtypes (strings too), ranks and values; a shared first dimension if ``batch``."""
    result = {}
    for name in draw(st.lists(st.sampled_from(["y", "p", "label", "raw_bytes"]), min_size=1, max_size=4, unique=True)):
        shape = draw(hnp.array_shapes(min_dims=0 if batch is None else 1, max_dims=3, min_side=0, max_side=3))
        if batch is not None:
            shape = (batch, *shape[1:])
        if draw(st.booleans()):
            flat = draw(st.lists(st.binary(max_size=5), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
            arr = np.empty(len(flat), dtype=object)
            arr[:] = flat
            result[name] = (arr.reshape(shape), TensorInfo(name, "string", None))
        else:
            dtype = draw(output_dtypes)
            elements = st.floats(width=8 * np.dtype(dtype).itemsize) if dtype.startswith("float") else None
            arr = draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))
            result[name] = (arr, TensorInfo(name, dtype, None))
    return result


def decoded_output(value: object, arr: np.ndarray, name: str) -> list | object:
    """A JSON output value back to what ``arr.tolist()`` gives (strings to bytes)."""
    if arr.dtype != object:
        return value

    def leaf(item: object) -> bytes:
        if isinstance(item, dict):
            return base64.b64decode(item["b64"])
        assert not name.endswith("_bytes")
        return item.encode("utf-8")

    def walk(node: object) -> object:
        return [walk(n) for n in node] if isinstance(node, list) else leaf(node)

    return walk(value)


def same_values(parsed: object, arr: np.ndarray, name: str) -> bool:
    back = decoded_output(parsed, arr, name)
    if arr.dtype.kind == "f":
        return np.array_equal(np.asarray(back, dtype=arr.dtype).reshape(arr.shape), arr, equal_nan=True)
    return back == arr.tolist()


@PROPERTIES
@given(data=st.data(), row_format=st.booleans())
def test_encode_predict_gives_json_that_parses_back(data, row_format):
    batch = data.draw(st.integers(0, 3)) if row_format else None
    named = {name: arr for name, (arr, _) in data.draw(outputs(batch)).items()}
    parsed = json.loads(encode_predict(named, row_format))  # the standard parser takes the NaN/Infinity tokens
    if not row_format:
        payload = parsed["outputs"]
        columns = {next(iter(named)): payload} if len(named) == 1 else payload
    elif len(named) == 1:
        columns = {next(iter(named)): parsed["predictions"]}
    else:
        columns = {name: [row[name] for row in parsed["predictions"]] for name in named}
    for name, arr in named.items():
        if row_format and len(named) > 1 and batch == 0:
            continue  # no rows to read the values back from
        assert same_values(columns[name], arr, name), name


@PROPERTIES
@given(data=st.data(), request_id=st.none() | st.text(max_size=8), all_binary=st.booleans())
def test_encode_infer_gives_json_and_binary_that_parse_back(data, request_id, all_binary):
    produced = data.draw(outputs(None))
    binary = set(produced) if all_binary else set(data.draw(st.sets(st.sampled_from(sorted(produced)))))
    sig = SignatureInfo("sig", inputs={}, outputs={name: info for name, (_, info) in produced.items()})
    request = InferRequest(request_id, {}, None, binary)
    payload, headers = encode_infer("m", 3, request, {n: a for n, (a, _) in produced.items()}, sig)
    split = int(headers.get("Inference-Header-Content-Length", len(payload)))
    header, blob = json.loads(payload[:split]), payload[split:]
    assert header["model_name"] == "m" and header.get("id") == request_id
    offset = 0
    for entry in header["outputs"]:
        arr, info = produced[entry["name"]]
        assert entry["shape"] == list(arr.shape) and entry["datatype"] == info.v2_datatype
        if entry["name"] in binary:
            size = entry["parameters"]["binary_data_size"]
            assert blob[offset : offset + size] == to_binary(arr, info)
            offset += size
        else:
            assert same_values(entry["data"], arr.reshape(-1), entry["name"])
    assert offset == len(blob)
