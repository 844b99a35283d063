"""Hostile and malformed requests through Flask's test client: each is a clear 4xx with ``{"error": ...}``, never a
500, and the app serves a good request right after. Limits are exercised on an app with small limits."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest

from app import create_app
from app.settings import Settings

V1 = "/v1/models/toy:predict"
V2 = "/v2/models/toy/infer"
JSON = "application/json"
GOOD_V1 = {"instances": [[1, 2, 3]]}
GOOD_V2 = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}


def nest(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def v2_tensor(name="x", shape=(1, 3), datatype="FP32", data=(1, 2, 3), **extra) -> dict:
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": list(data), **extra}


def send(client, path: str, body: object, content_type: str = JSON, headers: dict | None = None):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(path, data=data, content_type=content_type, headers=headers or {})


def assert_still_serves(client) -> None:
    r = send(client, V1, GOOD_V1)
    assert r.status_code == 200 and r.get_json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}
    r = send(client, V2, GOOD_V2)
    assert r.status_code == 200 and r.get_json()["outputs"][0]["data"] == [6.0]


def assert_error(r, status: int, message: str) -> None:
    assert (r.status_code, r.get_json()) == (status, {"error": message})
    assert r.mimetype == "application/json"


@pytest.fixture
def small_client(toy_model_dir, toy_predictor):
    """An app with tiny limits, so every limit can be crossed with a small request."""
    env = {
        "MODEL_URI": str(toy_model_dir),
        "MAX_INSTANCES": "10",
        "MAX_ELEMENTS": "20",
        "MAX_NESTING_DEPTH": "8",
        "MAX_STRING_BYTES": "16",
    }
    return create_app(Settings.from_env(env), toy_predictor).test_client()


@pytest.fixture
def roomy_client(toy_model_dir, toy_predictor):
    """An app with the default limits, including Cloud Run's 32 MiB request size."""
    return create_app(Settings.from_env({"MODEL_URI": str(toy_model_dir)}), toy_predictor).test_client()


# -- transport: content types, encodings, broken JSON -----------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "content_type", "headers", "status", "message"),
    [
        (
            V1,
            b'{"instances": [[1, 2, 3]]}',
            "text/plain",
            None,
            415,
            "unsupported Content-Type 'text/plain': send application/json",
        ),
        (
            V1,
            b"--x\r\n\r\n--x--",
            "multipart/form-data; boundary=x",
            None,
            415,
            "unsupported Content-Type 'multipart/form-data': send application/json",
        ),
        (
            V2,
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            "image/png",
            None,
            415,
            "unsupported Content-Type 'image/png': send application/json",
        ),
        (
            V1,
            b'{"instances": [[1, 2, 3]',
            JSON,
            None,
            400,
            "request body is not valid JSON: Expecting ',' delimiter (line 1, column 25)",
        ),
        (
            V1,
            b'{"instances": [[1, 2, 3]]}}',
            JSON,
            None,
            400,
            "request body is not valid JSON: Extra data (line 1, column 27)",
        ),
        (V1, b'{"instances": [["\xff\xfe"]]}', JSON, None, 400, "request body is not valid UTF-8"),
        (
            V1,
            b'{"signature_name": "text", "instances": ["\xed\xa0\x80"]}',
            JSON,
            None,
            400,
            "request body is not valid UTF-8",
        ),
        (V1, '{"instances": [[1, 2, 3]]}'.encode("utf-16"), JSON, None, 400, "request body is not valid UTF-8"),
        (V1, b"\x00" * 16, JSON, None, 400, "request body is not valid JSON: Expecting value (line 1, column 1)"),
        (V1, b"   ", JSON, None, 400, "request body is not valid JSON: Expecting value (line 1, column 4)"),
        (V1, b"null", JSON, None, 400, "request body must be a JSON object with 'instances' or 'inputs'"),
        (V1, b'"instances"', JSON, None, 400, "request body must be a JSON object with 'instances' or 'inputs'"),
        (V2, b"[]", JSON, None, 400, "request body must be a JSON object with an 'inputs' list"),
        (
            V2,
            b"\x00\x01\x02\x03",
            "application/octet-stream",
            None,
            400,
            "request body is not valid JSON: Expecting value (line 1, column 1)",
        ),
    ],
)
def test_transport_garbage(client, path, body, content_type, headers, status, message):
    assert_error(send(client, path, body, content_type, headers), status, message)
    assert_still_serves(client)


def test_utf8_bom_is_ignored(client):
    r = send(client, V1, b"\xef\xbb\xbf" + orjson.dumps(GOOD_V1))
    assert r.status_code == 200 and r.get_json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}


def test_number_with_thousands_of_digits(client):
    # Python's int parser refuses more than 4300 digits (a ValueError that used to escape as a 500).
    body = b'{"signature_name": "multi", "inputs": {"a": [[' + b"9" * 5000 + b', 1]], "b": [0]}}'
    assert_error(send(client, V1, body), 400, "request body has a number with too many digits")
    assert_still_serves(client)


# -- nesting ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            V1,
            {"instances": nest(40, 1.0)},
            "request is nested at least 41 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V1,
            {"signature_name": "text", "instances": nest(40, "a")},
            "request is nested at least 33 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V1,
            {"inputs": {"x": nest(40, 1.0)}},
            "request is nested at least 42 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V1,
            {**GOOD_V1, "parameters": {"p": nest(40, 1)}},
            "request is nested at least 33 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V2,
            {"inputs": [v2_tensor(shape=[1] * 40, data=nest(40, 1.0))]},
            "request is nested at least 43 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V2,
            {**GOOD_V2, "parameters": {"p": nest(40, 1)}},
            "request is nested at least 33 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        # Deeper than orjson's 1024 levels: the standard library's parser runs out of recursion instead.
        (
            V1,
            b'{"instances": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
            "request body is nested too deeply to parse; the limit is 32 levels (MAX_NESTING_DEPTH)",
        ),
        # Up to 1024 levels orjson parses it: the codecs must not recurse (strings) or let numpy mislabel it.
        (
            V1,
            b'{"signature_name": "text", "instances": ' + b"[" * 1000 + b'"a"' + b"]" * 1000 + b"}",
            "request is nested at least 33 levels deep; the limit is 32 (MAX_NESTING_DEPTH)",
        ),
        (
            V1,
            b'{"instances": [[1, 2, 3], ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"]}",
            "input 'x' is ragged: nested lists must all have the same length",
        ),
    ],
)
def test_deep_nesting(client, path, body, message):
    assert_error(send(client, path, body), 400, message)
    assert_still_serves(client)


def test_hundred_thousand_brackets(roomy_client):
    body = b"[" * 100_000 + b"]" * 100_000
    message = "request body is nested too deeply to parse; the limit is 32 levels (MAX_NESTING_DEPTH)"
    assert_error(send(roomy_client, V1, body), 400, message)
    assert_error(send(roomy_client, V2, body), 400, message)
    assert_still_serves(roomy_client)


def test_depth_at_the_limit_is_accepted(client):
    body = {"signature_name": "single", "instances": [1.0], "parameters": {"p": nest(30, 1)}}  # 1 + 1 + 30 = 32
    assert send(client, V1, body).status_code == 200


# -- numbers ---------------------------------------------------------------------------------------------------------
def test_float_overflow_becomes_infinity_like_the_token(client):
    # Policy: a number too large for the float dtype is ±Infinity (1e400 for any float, 1e39 for float32).
    r = send(client, V1, b'{"instances": [[1e400, -1e400, 1e39]]}')
    assert r.status_code == 200 and r.get_data() == b'{"predictions":[{"total":NaN,"y":[Infinity,-Infinity,Infinity]}]}'
    r = send(client, V1, b'{"instances": [[Infinity, -Infinity, NaN]]}')
    assert r.status_code == 200 and r.get_data() == b'{"predictions":[{"total":NaN,"y":[Infinity,-Infinity,NaN]}]}'


def test_int64_extremes(client):
    top = 2**63 - 1
    r = send(client, V1, {"signature_name": "multi", "inputs": {"a": [[top, 0]], "b": [0]}})
    assert r.status_code == 200 and r.get_json() == {"outputs": [9.223372e18]}  # a float32 sum
    r = send(client, V1, {"signature_name": "multi", "inputs": {"a": [[-top - 1, 0]], "b": [0]}})
    assert r.status_code == 200 and r.get_json() == {"outputs": [-9.223372e18]}


INEXACT = (
    "input 'a' has integers of magnitude 2**53 or more that were read as floats, so inexactly: "
    "write them as integer literals (no fraction or exponent) within the range of int64"
)


@pytest.mark.parametrize(
    ("a", "message"),
    [
        (b"[[9223372036854775808, 9223372036854775809]]", "input 'a' has values outside the range of int64"),  # uint64
        (b"[[9223372036854775808, 1]]", "input 'a' has values outside the range of int64"),  # numpy: float64
        # orjson reads integers outside (u)int64 as floats: -2**63 - 1 would become -2**63 (in range), and the float
        # 9.223372036854775807e18 is 2**63, which a cast wraps around to -2**63. Both are refused, not changed.
        (b"[[1267650600228229401496703205376, 1]]", INEXACT),  # 2**100
        (b"[[-9223372036854775809, 1]]", INEXACT),
        (b"[[9.223372036854775807e18, 1]]", INEXACT),
        (b"[[9007199254740993, 1.0]]", INEXACT),  # 2**53 + 1 beside a float: the array is float64
        (b"[[1.5, 1]]", "input 'a' must hold integers (int64), got fractional or non-finite numbers"),
        (b"[[NaN, 1]]", "input 'a' must hold integers (int64), got fractional or non-finite numbers"),
        (b"[[Infinity, 1]]", "input 'a' must hold integers (int64), got fractional or non-finite numbers"),
        (b"[[1e400, 1]]", "input 'a' must hold integers (int64), got fractional or non-finite numbers"),
        (b'[["1", "2"]]', "input 'a' must hold integers (int64), got strings"),
        (b"[[true, false]]", "input 'a' must hold integers (int64), got booleans"),
        (b"[[1, null]]", "input 'a' must hold integers (int64), got null"),
        (b'[[1, {"b64": "AQ=="}]]', "input 'a' must hold integers (int64), got an object"),
        (b"[[1, 2], [3]]", "input 'a' is ragged: nested lists must all have the same length"),
        (b'{"a": 1}', "input 'a' must hold integers (int64), got an object"),
    ],
)
def test_bad_integer_inputs(client, a, message):
    body = b'{"signature_name": "multi", "inputs": {"a": ' + a + b', "b": [0]}}'
    assert_error(send(client, V1, body), 400, message)
    assert_still_serves(client)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [["a", "b", "c"]]}, "input 'x' must hold numbers (float32), got strings"),
        ({"instances": [[True, False, True]]}, "input 'x' must hold numbers (float32), got booleans"),
        ({"instances": [[1, None, 3]]}, "input 'x' must hold numbers (float32), got null"),
        ({"instances": [[1, [2], 3]]}, "input 'x' is ragged: nested lists must all have the same length"),
        ({"instances": [[1, 2, 3], [4, 5]]}, "input 'x' is ragged: nested lists must all have the same length"),
        ({"instances": [[1, 2, 3], 4]}, "input 'x' is ragged: nested lists must all have the same length"),
        (
            {"instances": [{"x": [1, 2, 3]}, [1, 2, 3]]},
            "'instances' mixes objects and plain values: use one form for every instance",
        ),
        (
            {"inputs": {"z": [1]}},
            "Missing named input: x in 'inputs' object (signature 'serving_default' expects inputs: x)",
        ),
        (
            {"instances": [{"x": [1, 2, 3], "z": 1}]},
            "unknown input 'z' for signature 'serving_default'; expected inputs: x",
        ),
        ({"instances": []}, "'instances' is empty: send at least one example"),
        ({"instances": {}}, "'instances' must be a list with one entry per example"),
        ({"instances": None}, "'instances' must be a list with one entry per example"),
        ({"instances": "[[1, 2, 3]]"}, "'instances' must be a list with one entry per example"),
        ({"inputs": {}}, "'inputs' is an empty object"),
        ({"inputs": []}, "input 'x' has an empty batch (first dimension 0): send at least one example"),
        (
            {"signature_name": "single", "inputs": []},
            "input 'x' has an empty batch (first dimension 0): send at least one example",
        ),
        ({"inputs": None}, "input 'x' must hold numbers (float32), got null"),
        ({"instances": [[1, 2, 3]], "signature_name": ["x"]}, "'signature_name' key must be a string value."),
        ({"instances": [[1, 2, 3]], "parameters": []}, "'parameters' must be an object"),
        (
            {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]},
            "request must have either 'instances' (row format) or 'inputs' (columnar format), not both: "
            "expecting only one of 'inputs' or 'instances' keys to exist",
        ),
    ],
)
def test_bad_tf_serving_requests(client, body, message):
    assert_error(send(client, V1, body), 400, message)
    assert_still_serves(client)


def test_unknown_keys_are_ignored_as_tf_serving_ignores_them(client):
    """Unknown top-level keys, and columnar input names the signature lacks, are ignored (json_tensor.cc)."""
    r = send(client, V1, {"instances": [[1, 2, 3]], "foo": {"bar": [1]}})
    assert r.status_code == 200 and r.get_json()["predictions"][0]["y"] == [2.0, 4.0, 6.0]
    r = send(client, V1, {"inputs": {"x": [[1, 2, 3]], "z": "ignored"}})
    assert r.status_code == 200 and r.get_json()["outputs"]["total"] == [6.0]
    deep = {
        "instances": [[1, 2, 3]],
        "foo": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    }
    r = send(client, V1, deep)  # ignored, but still within the nesting limit (MAX_NESTING_DEPTH)
    assert r.status_code == 400 and "MAX_NESTING_DEPTH" in r.get_json()["error"]


def test_null_signature_name_means_the_default(client):
    assert send(client, V1, {"signature_name": None, "instances": [[1, 2, 3]]}).status_code == 200


# -- strings and bytes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"b64": "!!not base64!!"}, "input 's' has an invalid base64 value in {\"b64\": ...}"),
        ({"b64": "AQ="}, "input 's' has an invalid base64 value in {\"b64\": ...}"),
        ({"b64": 5}, "input 's' must hold strings or {\"b64\": ...} objects, got an object"),
        ({"b64": "AQ==", "extra": 1}, "unknown input 'b64' for signature 'text'; expected inputs: s"),
        (5, "input 's' must hold strings or {\"b64\": ...} objects, got a number"),
        (None, "input 's' must hold strings or {\"b64\": ...} objects, got null"),
        (True, "input 's' must hold strings or {\"b64\": ...} objects, got a boolean"),
        (
            "\ud800",
            "input 's' has a string with a lone surrogate escape such as \\ud800, which is not valid Unicode; "
            'send arbitrary bytes as {"b64": ...}',
        ),
        (
            "\udfff\ud800",
            "input 's' has a string with a lone surrogate escape such as \\ud800, which is not valid "
            'Unicode; send arbitrary bytes as {"b64": ...}',
        ),
    ],
)
def test_bad_strings(client, value, message):
    # json.dumps writes lone surrogates as \\ud800 escapes, as a hostile client would (orjson refuses to).
    import json

    body = json.dumps({"signature_name": "text", "instances": [value]}).encode()
    assert_error(send(client, V1, body), 400, message)
    assert_still_serves(client)


def test_valid_unicode_oddities_pass_through_as_bytes(client):
    import json

    sent = ["\0", "a\0b", "\u200fRTL\u200e", "\ud83d\ude00", "\ufeff", "\U0010ffff"]  # a surrogate pair: 😀
    expected = ["\0", "a\0b", "\u200fRTL\u200e", "\U0001f600", "\ufeff", "\U0010ffff"]
    r = send(client, V1, json.dumps({"signature_name": "text", "instances": sent}).encode())
    assert r.status_code == 200
    got = r.get_json()["predictions"]
    assert [p["echo"] for p in got] == expected
    assert [p["length"] for p in got] == [len(e.encode("utf-8")) for e in expected]  # TF counts bytes


# -- V2 --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"inputs": [v2_tensor(shape=[0, 3], data=[])]},
            "input 'x' has an empty batch (shape [0, 3]): send at least one example",
        ),
        ({"inputs": [v2_tensor(shape=[-1, 3])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        (
            {"inputs": [v2_tensor(shape=[1e9, 1e9], data=[1])]},
            "input 'x': 'shape' must be a list of non-negative integers",
        ),
        ({"inputs": [v2_tensor(shape=[True, 3])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        ({"inputs": [v2_tensor(shape="1,3")]}, "input 'x': 'shape' must be a list of non-negative integers"),
        (
            {"inputs": [v2_tensor(shape=[1_000_000_000, 1_000_000_000], data=[1])]},
            "request has 1000000000 instances; the limit is 10000 (MAX_INSTANCES)",
        ),
        (
            {"inputs": [v2_tensor(shape=[1, 1_000_000_000, 1_000_000_000], data=[1])]},
            "input 'x' has a dimension of 1000000000; the limit is 4000000 values (MAX_ELEMENTS)",
        ),
        (
            {"inputs": [v2_tensor(shape=[1000, 1000, 1000], data=[1])]},
            "request has 1000000000 values; the limit is 4000000 (MAX_ELEMENTS)",
        ),
        ({"inputs": [v2_tensor(shape=[1] * 65, data=[1])]}, "input 'x' has 65 dimensions; at most 64 are supported"),
        ({"inputs": [v2_tensor(shape=[2, 3])]}, "input 'x' has 3 values but shape [2, 3] needs 6"),
        (
            {"inputs": [v2_tensor(data=[[1, 2], [3]])]},
            "input 'x' is ragged: nested lists must all have the same length",
        ),
        ({"inputs": [v2_tensor(data=[1, None, 3])]}, "input 'x' must hold numbers (float32), got null"),
        ({"inputs": [{**v2_tensor(), "data": None}]}, "input 'x' must hold numbers (float32), got null"),
        ({"inputs": [{**v2_tensor(), "data": {"x": 1}}]}, "input 'x' must hold numbers (float32), got an object"),
        ({"inputs": [v2_tensor(data=["1", "2", "3"])]}, "input 'x' must hold numbers (float32), got strings"),
        ({"inputs": [v2_tensor(datatype="INT64")]}, "input 'x' has datatype INT64 but the model expects FP32"),
        ({"inputs": [v2_tensor(datatype=None)]}, "input 'x': unknown datatype None"),
        ({"inputs": [v2_tensor(name="z")]}, "unknown input 'z'; the model's inputs are: x"),
        ({"inputs": [v2_tensor(name=None)]}, "each input needs a string 'name'"),
        ({"inputs": [[1, 2, 3]]}, "each input must be an object with 'name', 'shape', 'datatype' and 'data'"),
        ({"inputs": {}}, "'inputs' must be a non-empty list of tensors"),
        ({"inputs": None}, "'inputs' must be a non-empty list of tensors"),
        ({"inputs": []}, "'inputs' must be a non-empty list of tensors"),
        ({**GOOD_V2, "id": 7}, "'id' must be a string"),
        ({**GOOD_V2, "parameters": []}, "request 'parameters' must be an object"),
        ({**GOOD_V2, "parameters": {"signature_name": 3}}, "parameter 'signature_name' must be a string"),
        (
            {**GOOD_V2, "parameters": {"binary_data_output": "yes"}},
            "request parameter 'binary_data_output' must be true or false",
        ),
        ({**GOOD_V2, "outputs": {"name": "y"}}, "'outputs' must be a list of {\"name\": ...} objects"),
        ({**GOOD_V2, "outputs": [{"name": "z"}]}, "unknown output 'z'; the model's outputs are: total, y"),
        (
            {**GOOD_V2, "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
            "output 'y' parameter 'binary_data' must be true or false",
        ),
        (
            {
                "parameters": {"signature_name": "multi"},
                "inputs": [v2_tensor("a", [1, 2], "INT64", [2**63 - 1, 1]), v2_tensor("a", [1, 2], "INT64", [1, 1])],
            },
            "input 'a' appears more than once",
        ),
    ],
)
def test_bad_v2_requests(client, body, message):
    assert_error(send(client, V2, body), 400, message)
    assert_still_serves(client)


def test_v2_id_must_be_valid_unicode(client):
    # The id is echoed in the response; a lone surrogate cannot be written as UTF-8 (it used to be a 500).
    body = b'{"id": "\\ud800", "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}'
    assert_error(
        send(client, V2, body), 400, "'id' has a lone surrogate escape such as \\ud800, which is not valid Unicode"
    )
    assert_still_serves(client)


def test_v2_huge_dimension_beside_a_zero_one_allocates_nothing(client):
    # A shape whose product is 0 but with a dimension past int64: numpy's reshape used to raise (a 500).
    body = b'{"inputs": [{"name": "x", "shape": [1, 0, 1180591620717411303424], "datatype": "FP32", "data": []}],'
    body += b' "parameters": {"p": NaN}}'  # the NaN token makes the standard library parse it, keeping big ints
    assert_error(
        send(client, V2, body),
        400,
        "input 'x' has a dimension of 1180591620717411303424; the limit is 4000000 values (MAX_ELEMENTS)",
    )
    assert_still_serves(client)


def binary_request(client, header: dict, binary: bytes, length: str | None = None):
    head = orjson.dumps(header)
    return client.post(
        V2,
        data=head + binary,
        content_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": length if length is not None else str(len(head))},
    )


def bin_x(size: int, shape=(1, 3)) -> dict:
    return {
        "inputs": [{"name": "x", "shape": list(shape), "datatype": "FP32", "parameters": {"binary_data_size": size}}]
    }


@pytest.mark.parametrize(
    ("header", "binary", "length", "message"),
    [
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "abc",
            "Inference-Header-Content-Length must be a non-negative integer",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "-5",
            "Inference-Header-Content-Length must be a non-negative integer",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "1_0",
            "Inference-Header-Content-Length must be a non-negative integer",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "9" * 5000,
            "Inference-Header-Content-Length must be a non-negative integer",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "0",
            "Inference-Header-Content-Length=0 does not fit a body of 106 bytes",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "999",
            "Inference-Header-Content-Length=999 does not fit a body of 106 bytes",
        ),
        (
            bin_x(12),
            np.ones(3, "<f4").tobytes(),
            "50",
            "request body is not valid JSON: Unterminated string starting at (line 1, column 49)",
        ),
        (bin_x(16), np.ones(3, "<f4").tobytes(), None, "input 'x': binary_data_size does not fit the binary section"),
        (bin_x(12), np.ones(4, "<f4").tobytes(), None, "binary section has 16 bytes but the inputs declare 12"),
        (bin_x(8), np.ones(2, "<f4").tobytes(), None, "input 'x': 8 bytes of binary data, shape needs 12"),
        (bin_x(-1), b"", None, "input 'x': binary_data_size does not fit the binary section"),
        (bin_x(True), b"\0", None, "input 'x': binary_data_size does not fit the binary section"),
        (
            bin_x(12, shape=(1, 2**40)),
            np.ones(3, "<f4").tobytes(),
            None,
            "input 'x' has a dimension of 1099511627776; the limit is 4000000 values (MAX_ELEMENTS)",
        ),
    ],
)
def test_v2_binary_extension_mismatches(client, header, binary, length, message):
    assert_error(binary_request(client, header, binary, length), 400, message)
    assert_still_serves(client)


# -- limits ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (V1, {"instances": [[1, 2, 3]] * 11}, "request has 11 instances; the limit is 10 (MAX_INSTANCES)"),
        (
            V1,
            {"signature_name": "single", "inputs": [1.0] * 11},
            "request has 11 instances; the limit is 10 (MAX_INSTANCES)",
        ),
        (
            V1,
            {"signature_name": "multi", "inputs": {"a": [[1, 2]] * 11, "b": [0.0] * 11}},
            "request has 11 instances; the limit is 10 (MAX_INSTANCES)",
        ),
        (
            V2,
            {"inputs": [v2_tensor(shape=[11, 1], data=[1] * 11)]},
            "request has 11 instances; the limit is 10 (MAX_INSTANCES)",
        ),
        (V1, {"instances": [[1, 2, 3]] * 7}, "request has 21 values; the limit is 20 (MAX_ELEMENTS)"),
        (V1, {"instances": [list(range(30))]}, "request has 30 values; the limit is 20 (MAX_ELEMENTS)"),
        # Counted over all the tensors of a request: a is 7x2, b is 7.
        (
            V1,
            {"signature_name": "multi", "instances": [{"a": [1, 2], "b": 0.5}] * 7},
            "request has 21 values; the limit is 20 (MAX_ELEMENTS)",
        ),
        (
            V2,
            {"inputs": [v2_tensor(shape=[7, 3], data=[1] * 21)]},
            "request has 21 values; the limit is 20 (MAX_ELEMENTS)",
        ),
        (
            V2,
            {"inputs": [v2_tensor(shape=[1, 3], data=[1] * 21)]},
            "request has 21 values; the limit is 20 (MAX_ELEMENTS)",
        ),
        (
            V1,
            {"signature_name": "text", "instances": [["a"] * 21]},
            "request has 21 values; the limit is 20 (MAX_ELEMENTS)",
        ),
        (
            V1,
            {"instances": nest(9, 1)},
            "request is nested at least 10 levels deep; the limit is 8 (MAX_NESTING_DEPTH)",
        ),
        (
            V1,
            {"signature_name": "text", "instances": ["a" * 17]},
            "input 's' has a string of 17 bytes; the limit is 16 (MAX_STRING_BYTES)",
        ),
        (
            V1,
            {"signature_name": "text", "instances": ["é" * 9]},
            "input 's' has a string of 18 bytes; the limit is 16 (MAX_STRING_BYTES)",
        ),
        (
            V1,
            {"signature_name": "text", "instances": [{"b64": "QUFBQUFBQUFBQUFBQUFBQUE="}]},
            "input 's' has a string of 17 bytes; the limit is 16 (MAX_STRING_BYTES)",
        ),
        (V2, {**GOOD_V2, "id": "i" * 17}, "'id' has a string of 17 bytes; the limit is 16 (MAX_STRING_BYTES)"),
    ],
)
def test_limits(small_client, path, body, message):
    assert_error(send(small_client, path, body), 400, message)
    assert_still_serves(small_client)


def test_limits_allow_exactly_the_limit(small_client):
    assert send(small_client, V1, {"signature_name": "single", "instances": [1.0] * 10}).status_code == 200
    assert send(small_client, V1, {"signature_name": "text", "instances": ["a" * 16]}).status_code == 200
    body = {"inputs": [v2_tensor(shape=[5, 3], data=[1] * 15)], "parameters": {"p": nest(6, 1)}}  # 2 + 6 = 8
    assert send(small_client, V2, body).status_code == 200


def test_limits_in_the_v2_binary_bytes_extension(small_client):
    raw = b"".join(len(s).to_bytes(4, "little") + s for s in (b"ok", b"x" * 17))
    header = {
        "parameters": {"signature_name": "text"},
        "inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}],
    }
    message = "input 's' has a string of 17 bytes; the limit is 16 (MAX_STRING_BYTES)"
    assert_error(binary_request(small_client, header, raw), 400, message)
    # Many empty elements for a declared shape of 2: counting stops at the shape, not at the end of the data.
    raw = b"\0\0\0\0" * 10_000
    header["inputs"][0]["parameters"]["binary_data_size"] = len(raw)
    assert_error(
        binary_request(small_client, header, raw), 400, "input 's': binary data holds 3 elements, shape needs 2"
    )
    assert_still_serves(small_client)


def test_30_mb_of_tiny_numbers_is_rejected_before_building_arrays(roomy_client):
    rows = b"0," * (15_000_000 - 1) + b"0"
    started = time.perf_counter()
    r = send(roomy_client, V1, b'{"signature_name": "single", "instances": [' + rows + b"]}")
    assert_error(r, 400, "request has 15000000 instances; the limit is 10000 (MAX_INSTANCES)")
    r = send(roomy_client, V1, b'{"instances": [[' + rows + b"]]}")  # one instance of 15M values
    assert_error(r, 400, "request has 15000000 values; the limit is 4000000 (MAX_ELEMENTS)")
    assert time.perf_counter() - started < 20  # parsing only: no float64 array of 15M values, no model call
    assert_still_serves(roomy_client)


def test_body_over_max_request_bytes_is_413(client):
    r = send(client, V2, b'{"inputs": [' + b" " * 70_000 + b"]}")
    assert_error(r, 413, "request body is larger than the limit of 65536 bytes (MAX_REQUEST_BYTES)")
    assert_still_serves(client)
