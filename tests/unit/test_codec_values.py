"""JSON values <-> numpy for one tensor: dtypes, strings, base64 and every way a value can be wrong."""

import numpy as np
import pytest

from app.codecs.jsonio import dumps, loads
from app.codecs.values import output_to_json, to_array
from app.errors import InvalidInput
from app.tensors import TensorInfo

F32 = TensorInfo("x", "float32", (None,))
I32 = TensorInfo("x", "int32", (None,))
U8 = TensorInfo("x", "uint8", (None,))
BOOL = TensorInfo("x", "bool", (None,))
STR = TensorInfo("x", "string", (None, None))


def test_numbers_become_the_signature_dtype():
    arr = to_array([[1, 2.5], [3, 4]], F32, "x")
    assert arr.dtype == np.float32 and arr.tolist() == [[1.0, 2.5], [3.0, 4.0]]
    assert to_array([1.0, 2.0], I32, "x").dtype == np.int32


@pytest.mark.parametrize(
    ("value", "info", "message"),
    [
        ([[1, 2], [3]], F32, "ragged"),
        ([1, "2"], F32, "got strings"),
        ([1, None], F32, "got null"),
        ([{"a": 1}], F32, "got an object"),
        ([True, False], F32, "got booleans"),
        ([1.5], I32, "fractional"),
        ([2**31], I32, "outside the range of int32"),
        ([-1], U8, "outside the range of uint8"),
        ([2**70], I32, "integer out of range"),
        ([1, 0], BOOL, "booleans"),
        ([[1, 2]], STR, "must hold strings"),
        ([["a"], ["b", "c"]], STR, "ragged"),
        ([[{"b64": "not base64!"}]], STR, "invalid base64"),
    ],
)
def test_bad_values_are_invalid_input(value, info, message):
    with pytest.raises(InvalidInput, match=message):
        to_array(value, info, "input 'x'")


def test_strings_and_base64_become_bytes():
    arr = to_array([["héllo", {"b64": "AP8="}]], STR, "x")
    assert arr.shape == (1, 2) and arr.dtype == object
    assert arr.tolist() == [["héllo".encode(), b"\x00\xff"]]


def test_string_outputs_are_text_unless_binary():
    arr = np.array([b"LOW", b"\xff"], dtype=object)
    assert output_to_json("risk", arr) == ["LOW", {"b64": "/w=="}]
    assert output_to_json("image_bytes", arr) == [{"b64": "TE9X"}, {"b64": "/w=="}]


def test_json_accepts_tf_serving_nan_tokens_and_rejects_garbage():
    assert np.isnan(loads(b'{"x": [NaN, Infinity]}')["x"][0])
    with pytest.raises(InvalidInput, match="not valid JSON"):
        loads(b'{"instances": [1, 2')
    with pytest.raises(InvalidInput, match="nested too deeply"):
        loads(b"[" * 100_000 + b"]" * 100_000)


def test_nonfinite_outputs_are_written_as_tokens():
    assert dumps({"y": np.array([np.nan, np.inf, 1.5], dtype=np.float32)}, nonfinite=True) == (
        b'{"y":[NaN,Infinity,1.5]}'
    )
    assert dumps({"y": np.array([0.1], dtype=np.float32)}) == b'{"y":[0.1]}'
