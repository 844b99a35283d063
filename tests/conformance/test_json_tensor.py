"""TF Serving's ``util/json_tensor_test.cc`` predict cases, ported to our TF Serving codec.

Each test names the upstream test it comes from (tensorflow/serving, ``tensorflow_serving/util/json_tensor_test.cc``).
Upstream feeds a signature that only gives dtypes; here that is a signature whose inputs have unknown rank. The
``FillPredictRequestFromJson`` cases run through ``decode_predict`` (the request side), the ``MakeJsonFromTensors``
cases through ``encode_predict`` (the response side). Error cases assert a 400 (``InvalidInput``; upstream's
InvalidArgument, which its HTTP layer maps to 400) and, where our wording is TF Serving's, the same phrase.

Deliberate differences are pinned at the end and listed in docs/tfserving-compatibility.md.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import orjson
import pytest

from app.codecs.jsonio import loads
from app.codecs.tfserving import decode_predict, encode_predict
from app.errors import InvalidInput
from app.tensors import SignatureInfo, TensorInfo


def signature(**dtypes: str) -> SignatureInfo:
    """Upstream's TensorInfoMap: names and dtypes only."""
    return SignatureInfo("serving_default", {n: TensorInfo(n, d, None) for n, d in dtypes.items()}, {})


def fill(body: str, sig: SignatureInfo):
    """FillPredictRequestFromJson: the body's text through our parser and decoder."""
    return decode_predict(loads(body.encode()), lambda name: sig)


def fails(body: str, sig: SignatureInfo, phrase: str = "") -> str:
    with pytest.raises(InvalidInput) as info:
        fill(body, sig)
    assert phrase.lower() in info.value.message.lower(), info.value.message
    return info.value.message


def same(actual: np.ndarray, dtype: str, shape: tuple[int, ...], values: list) -> None:
    assert actual.dtype == (np.dtype(object) if dtype == "string" else np.dtype(dtype))
    assert actual.shape == shape
    assert actual.ravel().tolist() == values or np.array_equal(
        actual.ravel().astype(float), np.array(values, dtype=float), equal_nan=True
    )


INT = signature(default="int32")


def test_single_unnamed_tensor():  # JsontensorTest.SingleUnnamedTensor
    request = fill('{"instances": [[1,2],[3,4],[5,6]]}', INT)
    assert request.row_format
    same(request.inputs["default"], "int32", (3, 2), [1, 2, 3, 4, 5, 6])


def test_mixed_input_for_float_tensor():  # JsontensorTest.MixedInputForFloatTensor
    request = fill('{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', signature(default="float32"))
    same(request.inputs["default"], "float32", (7,), np.float32([1, 2, 3, 4, 5.003, 0.007, 0]).tolist())


def test_mixed_input_for_double_tensor():  # JsontensorTest.MixedInputForDoubleTensor
    request = fill('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}', signature(default="float64"))
    same(request.inputs["default"], "float64", (7,), [1, 2, 3, 4, 0.662, 0, 0])


@pytest.mark.parametrize("literal", ["1435774380", "1435774380.0"])
def test_float_tensor_with_precision_loss(literal):  # JsontensorTest.FloatTensorWithPrecisionLoss
    request = fill(f'{{"instances": [{literal}]}}', signature(default="float32"))
    same(request.inputs["default"], "float32", (1,), [float(np.float32(1435774380))])


@pytest.mark.parametrize("sign", [1, -1])
def test_float_tensor_that_exceeds_max_returns_inf(sign):  # JsontensorTest.FloatTensorThatExceedsMaxReturnsInf
    request = fill(f'{{"instances": [{sign * sys.float_info.max!r}]}}', signature(default="float32"))
    assert request.inputs["default"].tolist() == [sign * math.inf]


@pytest.mark.parametrize("sign", [1, -1])
def test_float_tensor_that_exceeds_min_returns_zero(sign):  # JsontensorTest.FloatTensorThatExceedsMinReturnsZero
    value = fill(f'{{"instances": [{sign * sys.float_info.min!r}]}}', signature(default="float32")).inputs["default"]
    assert value.tolist() == [0.0] and math.copysign(1, value[0]) == sign


def test_single_unnamed_tensor_with_signature():  # JsontensorTest.SingleUnnamedTensorWithSignature
    request = fill('{"signature_name": "predict_images", "instances": [[1,2]]}', INT)
    assert request.signature_name == "predict_images"
    same(request.inputs["default"], "int32", (1, 2), [1, 2])


def test_single_unnamed_tensor_base64_scalars():  # JsontensorTest.SingleUnnamedTensorBase64Scalars
    request = fill('{"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}', signature(default="string"))
    same(request.inputs["default"], "string", (2,), [b"hello", b"world"])


def test_single_unnamed_tensor_base64_lists():  # JsontensorTest.SingleUnnamedTensorBase64Lists
    request = fill('{"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}', signature(default="string"))
    same(request.inputs["default"], "string", (2, 1), [b"hello", b"world"])


def test_single_named_tensor_base64():  # JsontensorTest.SingleNamedTensorBase64
    body = '{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}'
    same(fill(body, signature(default="string")).inputs["default"], "string", (1, 2, 1), [b"hello", b"world"])


def test_multiple_named_tensor():  # JsontensorTest.MultipleNamedTensor
    sig = signature(int_tensor="int32", str_tensor="string", float_tensor="float32", dbl_tensor="float64")
    body = """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"], "float_tensor": [1.0, NaN],
         "dbl_tensor": [NaN]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"], "float_tensor": [2.0, Infinity],
         "dbl_tensor": [2.0]}]}"""
    inputs = fill(body, sig).inputs
    same(inputs["int_tensor"], "int32", (2, 3, 2), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
    same(inputs["str_tensor"], "string", (2, 2), [b"foo", b"bar", b"baz", b"bat"])
    same(inputs["float_tensor"], "float32", (2, 2), [1.0, math.nan, 2.0, math.inf])
    same(inputs["dbl_tensor"], "float64", (2, 1), [math.nan, 2.0])


@pytest.mark.parametrize(
    "body", ['{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', '{"inputs": [[[1,2],[3,4],[5,6]]]}']
)
def test_single_unnamed_tensor_columnar_format(body):  # JsontensorTest.SingleUnnamedTensorColumnarFormat
    request = fill(body, signature(int_tensor="int32"))
    assert not request.row_format
    same(request.inputs["int_tensor"], "int32", (1, 3, 2), [1, 2, 3, 4, 5, 6])


def test_multiple_named_tensor_columnar_format():  # JsontensorTest.MultipleNamedTensorColumnarFormat
    sig = signature(int_tensor="int32", str_tensor="string", bin_tensor="string")
    body = """{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
               "bin_tensor": {"b64": "aGVsbG8="}}}"""
    inputs = fill(body, sig).inputs
    same(inputs["int_tensor"], "int32", (1, 3, 2), [1, 2, 3, 4, 5, 6])
    same(inputs["str_tensor"], "string", (2,), [b"foo", b"bar"])
    same(inputs["bin_tensor"], "string", (), [b"hello"])


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ('{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}', "must be a string value"),
        ('{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}', "expecting only one of"),
        ('{"instances": [[1,2],[3,4],[5,6,7]]}', ""),  # upstream: "Expecting tensor size"; ours says "ragged"
        ('{"instances": [[1,2],[3,4],[[5,6]]]}', ""),  # upstream: "Expecting shape"
        ('{"instances": [1, [1]]}', ""),  # upstream: "Expecting shape"
        ('{"instances": [[1,2],["a", "b"]]}', "integers"),  # upstream: "not of expected type"
    ],
)
def test_single_unnamed_tensor_errors(body, phrase):  # JsontensorTest.SingleUnnamedTensorErrors
    fails(body, INT, phrase)


def test_empty_document_is_an_error():  # JsontensorTest.SingleUnnamedTensorErrors (the empty document)
    with pytest.raises(InvalidInput):
        loads(b"")


TWO = signature(int_tensor="int32", str_tensor="string")


@pytest.mark.parametrize(
    ("body", "sig", "phrase"),
    [
        # Different shapes across int_tensor instances (upstream: "Expecting shape").
        (
            """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
                              {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}""",
            TWO,
            "",
        ),
        # Different sizes across int_tensor instances (upstream: "Expecting tensor size").
        (
            """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
                              {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}""",
            TWO,
            "",
        ),
        # An object first, then a list (upstream: "Expecting object but got list").
        (
            """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, [1, 20, 30],
                              {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}""",
            TWO,
            "mixes objects and plain values",
        ),
        # A list first, then an object (upstream: "Expecting value/list but got object").
        ('{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}', signature(str_tensor="string"), ""),
    ],
)
def test_multiple_named_tensor_errors(body, sig, phrase):  # JsontensorTest.MultipleNamedTensorErrors
    fails(body, sig, phrase)


# -- the response side: MakeJsonFromTensors ------------------------------------------------------------------------
def encode(outputs: dict[str, np.ndarray], row_format: bool):
    return orjson.loads(encode_predict(outputs, row_format))


NESTED = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2], dtype=np.int32).reshape(2, 3, 2)


def test_from_json_single_tensor():  # JsontensorTest.FromJsonSingleTensor
    expected = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]
    assert encode({"int_tensor": NESTED}, True) == {"predictions": expected}
    assert encode({"int_tensor": NESTED}, False) == {"outputs": expected}


def test_from_json_single_scalar_tensor():  # JsontensorTest.FromJsonSingleScalarTensor
    values = np.arange(1, 6, dtype=np.int32)
    assert encode({"int_tensor": values}, True) == {"predictions": [1, 2, 3, 4, 5]}
    assert encode({"int_tensor": values}, False) == {"outputs": [1, 2, 3, 4, 5]}


def test_from_json_single_bytes_tensor():  # JsontensorTest.FromJsonSingleBytesTensor
    strings = np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object)
    assert encode({"str_tensor_bytes": strings}, True) == {
        "predictions": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]
    }


def test_from_json_single_float_tensor_six_digit_precision():  # JsontensorTest.FromJsonSingleFloatTensorSixDigit...
    """The same numbers; upstream prints 6 significant digits ("9e+06"), we print the shortest exact float32 form."""
    floats = np.float32([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]])
    assert encode({"float_tensor": floats}, True) == {"predictions": [[9e06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5]]}
    # Where 6 digits lose precision, ours keep it: upstream would print 0.123457.
    assert encode_predict({"y": np.float32([0.1234567])}, True) == b'{"predictions":[0.1234567]}'


def test_from_json_single_float_tensor_non_finite():  # JsontensorTest.FromJsonSingleFloatTensorNonFinite
    floats = np.float32([[math.nan, math.inf], [3, -math.inf]])
    assert encode_predict({"float_tensor": floats}, True) == b'{"predictions":[[NaN,Infinity],[3.0,-Infinity]]}'


def test_from_json_single_tensor_errors():  # JsontensorTest.FromJsonSingleTensorErrors
    with pytest.raises(InvalidInput, match="batch dimension"):  # upstream: "no shape information"
        encode_predict({"int_tensor": np.array(1, dtype=np.int32)}, True)


def test_from_json_multiple_named_tensors():  # JsontensorTest.FromJsonMultipleNamedTensors
    outputs = {
        "int_tensor": NESTED,
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "float_tensor": np.float32([[1.0], [2.0]]),
        "double_scalar_tensor": np.float64([8.0, 9.0]),
        "bytes_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
    }
    rows = encode(outputs, True)["predictions"]
    assert rows[1] == {
        "int_tensor": [[7, 8], [9, 0], [1, 2]],
        "str_tensor": ["baz", "bat"],
        "float_tensor": [2.0],
        "double_scalar_tensor": 9.0,
        "bytes_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
    }
    columns = encode(outputs, False)["outputs"]
    assert columns["double_scalar_tensor"] == [8.0, 9.0] and columns["str_tensor"][0] == ["foo", "bar"]


def test_from_json_multiple_named_tensors_errors():  # JsontensorTest.FromJsonMultipleNamedTensorsErrors
    outputs = {"int_tensor": np.zeros((2, 3), np.int32), "str_tensor": np.array([[b"a", b"b", b"c"]], dtype=object)}
    with pytest.raises(InvalidInput, match="batch dimension"):  # upstream: "inconsistent batch size"
        encode_predict(outputs, True)


def test_from_json_single_zero_batch_tensor():  # JsontensorTest.FromJsonSingleZeroBatchTensor
    assert encode({"int_tensor": np.zeros((0, 2), np.int32)}, True) == {"predictions": []}


def test_from_json_multiple_zero_batch_tensors():  # JsontensorTest.FromJsonMultipleZeroBatchTensors
    outputs = {"str_tensor": np.empty((0, 1, 2), dtype=object), "float_tensor": np.zeros((0, 3, 4), np.float32)}
    assert encode(outputs, True) == {"predictions": []}


def test_from_json_multiple_zero_batch_tensors_errors():  # JsontensorTest.FromJsonMultipleZeroBatchTensorsErrors
    outputs = {"int_tensor": np.zeros((0, 2), np.int32), "str_tensor": np.array([[b"a", b"b"]], dtype=object)}
    with pytest.raises(InvalidInput, match="batch dimension"):
        encode_predict(outputs, True)


# -- deliberate differences (docs/tfserving-compatibility.md) ------------------------------------------------------
def test_difference_integral_floats_for_integer_tensors():
    """Upstream rejects ``1.0`` for an int32 tensor (rapidjson's IsInt); we take integral floats as integers."""
    same(fill('{"instances": [1.0, 2]}', INT).inputs["default"], "int32", (2,), [1, 2])
    fails('{"instances": [1.5]}', INT, "integers")


def test_difference_half_precision_inputs():
    """Upstream answers 501 (Unimplemented: "Conversion of JSON Value ... to type: half"); we convert to float16."""
    same(fill('{"instances": [1.5, 2]}', signature(default="float16")).inputs["default"], "float16", (2,), [1.5, 2.0])


def test_difference_half_precision_outputs():
    """Upstream answers 400 ("Failed to write JSON value for tensor type: half"); we write the numbers."""
    assert encode({"h": np.float16([1.5, -0.25])}, True) == {"predictions": [1.5, -0.25]}
