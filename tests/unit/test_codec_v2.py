"""V2 / Open Inference Protocol codec: JSON tensors, Triton's binary extension, and malformed requests."""

import struct
from dataclasses import replace

import numpy as np
import orjson
import pytest

from app.codecs.v2 import decode_infer, encode_infer
from app.errors import InvalidInput
from app.tensors import SignatureInfo, TensorInfo
from tests.unit.signatures import IMAGE, lookup


def tensor(name="image", shape=(1, 2, 2), datatype="FP32", data=(0.0, 0.1, 0.2, 0.3)):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": list(data)}


def test_flat_and_nested_data_are_reshaped():
    flat = decode_infer({"inputs": [tensor()]}, b"", lookup)
    nested = decode_infer({"inputs": [tensor(data=[[[0.0, 0.1], [0.2, 0.3]]])]}, b"", lookup)
    assert flat.inputs["image"].shape == nested.inputs["image"].shape == (1, 2, 2)
    assert np.array_equal(flat.inputs["image"], nested.inputs["image"])
    assert flat.output_names is None and flat.binary_outputs == set()


def test_binary_inputs_and_requested_binary_outputs():
    raw = np.arange(8, dtype="<f4").tobytes()
    body = {
        "id": "req-1",
        "inputs": [{"name": "image", "shape": [2, 2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 32}}],
        "outputs": [{"name": "digit", "parameters": {"binary_data": True}}, {"name": "probabilities"}],
    }
    req = decode_infer(body, raw, lookup)
    assert req.inputs["image"].reshape(-1).tolist() == list(range(8))
    assert req.output_names == ["digit", "probabilities"] and req.binary_outputs == {"digit"}
    outputs = {"digit": np.array([3, 1], np.int64), "probabilities": np.zeros((2, 3), np.float32)}
    payload, headers = encode_infer("mnist", 2, req, outputs, IMAGE)
    split = int(headers["Inference-Header-Content-Length"])
    header = orjson.loads(payload[:split])
    assert header["id"] == "req-1" and header["model_version"] == "2"
    assert header["outputs"][0] == {
        "name": "digit",
        "datatype": "INT64",
        "shape": [2],
        "parameters": {"binary_data_size": 16},
    }
    assert np.frombuffer(payload[split:], "<i8").tolist() == [3, 1]
    assert header["outputs"][1]["data"] == [0.0] * 6


def test_binary_bytes_elements_are_length_prefixed():
    raw = struct.pack("<I", 2) + b"hi" + struct.pack("<I", 0)
    body = {
        "inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}],
        "parameters": {"signature_name": "text"},
    }
    assert decode_infer(body, raw, lookup).inputs["s"].tolist() == [b"hi", b""]


def test_binary_data_output_is_the_default_for_requested_outputs():
    # Triton's binary tensor extension: binary_data_output sets every output's default, an output's own binary_data
    # overrides it. (KServe sends a requested output without binary_data as JSON; see docs/v2-compatibility.md.)
    body = {
        "inputs": [tensor()],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "digit"}, {"name": "probabilities", "parameters": {"binary_data": False}}],
    }
    assert decode_infer(body, b"", lookup).binary_outputs == {"digit"}
    assert decode_infer({**body, "outputs": None}, b"", lookup).binary_outputs == {"digit", "probabilities"}


def test_fp16_travels_as_json_numbers_and_as_binary():
    # KServe and Triton refuse FP16 as JSON numbers; we take them (docs/v2-compatibility.md) and round to halves.
    half = TensorInfo("h", "float16", (None,))
    sig = SignatureInfo("halves", inputs={"h": half}, outputs={"h": half})
    values = np.array([6.8, 1.4, 65504.0], np.float16)
    as_json = decode_infer({"inputs": [tensor("h", [3], "FP16", [6.8, 1.4, 65504.0])]}, b"", lambda _: sig)
    header = {"inputs": [{"name": "h", "shape": [3], "datatype": "FP16", "parameters": {"binary_data_size": 6}}]}
    as_binary = decode_infer(header, values.astype("<f2").tobytes(), lambda _: sig)
    assert as_json.inputs["h"].dtype == as_binary.inputs["h"].dtype == np.float16
    assert as_json.inputs["h"].tolist() == as_binary.inputs["h"].tolist() == values.tolist()
    payload, _ = encode_infer("m", 1, as_json, {"h": values}, sig)
    assert np.array_equal(np.float16(orjson.loads(payload)["outputs"][0]["data"]), values)
    payload, headers = encode_infer("m", 1, replace(as_json, binary_outputs={"h"}), {"h": values}, sig)
    assert payload[int(headers["Inference-Header-Content-Length"]) :] == values.astype("<f2").tobytes()


def test_json_response_shape():
    req = decode_infer({"inputs": [tensor()]}, b"", lookup)
    payload, headers = encode_infer("mnist", 1, req, {"digit": np.array([7])}, IMAGE)
    assert headers == {}
    assert orjson.loads(payload) == {
        "model_name": "mnist",
        "model_version": "1",
        "outputs": [{"name": "digit", "datatype": "INT64", "shape": [1], "data": [7]}],
    }


@pytest.mark.parametrize(
    ("body", "binary", "message"),
    [
        ([], b"", "must be a JSON object"),
        ({"inputs": []}, b"", "non-empty list"),
        ({"inputs": [tensor(name="pixels")]}, b"", "unknown input 'pixels'"),
        ({"inputs": [tensor(datatype="FP64")]}, b"", "has datatype FP64 but the model expects FP32"),
        ({"inputs": [tensor(datatype="FLOAT")]}, b"", "unknown datatype"),
        ({"inputs": [tensor(shape=(1, 2, 3))]}, b"", "has 4 values but shape"),
        ({"inputs": [tensor(shape=(1, -2, 2))]}, b"", "non-negative integers"),
        ({"inputs": [{"name": "image", "shape": [1, 2, 2], "datatype": "FP32"}]}, b"", "has no 'data'"),
        ({"inputs": [tensor(), tensor()]}, b"", "more than once"),
        ({"inputs": [tensor(data=["a", "b", "c", "d"])]}, b"", "got strings"),
        ({"inputs": [tensor()], "outputs": [{"name": "logits"}]}, b"", "unknown output 'logits'"),
        ({"inputs": [tensor()], "id": 5}, b"", "'id' must be a string"),
        (
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 2, 2],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 16},
                    }
                ]
            },
            b"\0" * 8,
            "does not fit",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 2, 2],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 8},
                    }
                ]
            },
            b"\0" * 8,
            "shape needs 16",
        ),
        ({"inputs": [tensor()]}, b"\0" * 4, "binary section has 4 bytes"),
    ],
)
def test_malformed_requests_are_invalid_input(body, binary, message):
    with pytest.raises(InvalidInput, match=message):
        decode_infer(body, binary, lookup)
