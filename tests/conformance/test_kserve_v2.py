"""KServe's own V2 REST tests, ported to HTTP calls against the real server (``python -m app``: gunicorn).

Source: kserve/kserve@aaac4e294dae2c7b1aa1886447793f3aa1c30912, ``python/kserve/test/test_server.py`` (the V2 cases)
and ``python/kserve/test/test_dataplane.py`` (the data-plane cases behind the V2 routes). Each test names the upstream
function it ports; docs/v2-compatibility.md lists them all, with the cases that cannot apply and our deliberate
differences (each pinned by a test below or named there).

KServe's tests register dummy models. One TF1 SavedModel served as ``TestModel`` reproduces them, one signature each:

    DummyModel "TestModel" (echoes its input)  serving_default  input-0 INT32 [-1,-1] -> output-0
    DummyFP16InputModel "FP16InputModel"       fp16_input       fp16_input FP16 [-1,4], str_input BYTES [-1,4]
                                                                -> str_output BYTES, fp32_output FP32 (flattened)
    DummyFP16OutputModel "FP16OutputModel"     fp16_output      fp32_input FP32 [-1,4]
                                                                -> fp16_output FP16, fp32_output FP32 (flattened)

KServe picks a dummy by URL; we serve one model per server, so requests meant for the FP16 models name the signature
with the ``signature_name`` request parameter. That is the only change made to KServe's request bodies, which are
otherwise what KServe's ``InferRequest.to_rest()`` produces for each test. Expected bodies are KServe's own, parsed
by ``kserve_expected``, which applies our two documented differences in the response header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.integration.server import RunningServer, run_server

BINARY_HEADER = "Inference-Header-Content-Length"  # KServe's INFERENCE_CONTENT_LENGTH_HEADER
MODEL = "TestModel"
VERSION = 1
FP32_DATA = np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], dtype=np.float32)  # upstream's fp32_data
FP16_DATA = FP32_DATA.astype(np.float16)  # upstream's fp16_data
STR_DATA = [["cat", "dog", "cat", "dog"], ["cat", "dog", "cat", "dog"]]  # upstream's str_data
# Upstream's body for test_infer_v2, test_datetime_output and the not-ready infer cases.
ECHO_BODY = b'{"inputs": [{"name": "input-0","shape": [1, 2],"datatype": "INT32","data": [[1,2]]}]}'


def export_kserve_dummies(export_dir: Path) -> Path:
    """Write the SavedModel described in the module docstring to ``export_dir``.

    TF1 signature keys may be any string (TF2 would rename ``input-0`` to ``input_0``), so KServe's tensor names
    survive as they are.
    """
    import tensorflow.compat.v1 as tf

    builder = tf.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf.Session(graph=tf.Graph()) as sess:
        echo_in = tf.placeholder(tf.int32, [None, None], name="echo_in")
        fp16_in = tf.placeholder(tf.float16, [None, 4], name="fp16_in")
        str_in = tf.placeholder(tf.string, [None, 4], name="str_in")
        fp32_in = tf.placeholder(tf.float32, [None, 4], name="fp32_in")

        def signature(inputs: dict, outputs: dict) -> Any:
            def info(tensors: dict) -> dict:
                return {k: tf.saved_model.utils.build_tensor_info(v) for k, v in tensors.items()}

            return tf.saved_model.signature_def_utils.build_signature_def(
                info(inputs), info(outputs), tf.saved_model.signature_constants.PREDICT_METHOD_NAME
            )

        signatures = {
            "serving_default": signature({"input-0": echo_in}, {"output-0": tf.identity(echo_in)}),
            "fp16_input": signature(
                {"fp16_input": fp16_in, "str_input": str_in},
                {"str_output": tf.reshape(str_in, [-1]), "fp32_output": tf.reshape(tf.cast(fp16_in, tf.float32), [-1])},
            ),
            "fp16_output": signature(
                {"fp32_input": fp32_in},
                {
                    "fp16_output": tf.reshape(tf.cast(fp32_in, tf.float16), [-1]),
                    "fp32_output": tf.reshape(fp32_in, [-1]),
                },
            ),
        }
        builder.add_meta_graph_and_variables(sess, [tf.saved_model.tag_constants.SERVING], signature_def_map=signatures)
    builder.save()
    return export_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The KServe dummies served as model ``TestModel`` (version 1), one gunicorn worker, production settings."""
    base = tmp_path_factory.mktemp("kserve_dummies")
    export_kserve_dummies(base / str(VERSION))
    env = {"MODEL_URI": str(base), "MODEL_NAME": MODEL, "WORKERS": "1"}
    with run_server(env, tmp_path_factory.mktemp("kserve_server")) as running:
        yield running


def get(server: RunningServer, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=30)


def post(
    server: RunningServer, path: str, body: dict | bytes, headers: dict[str, str] | None = None
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    # KServe's test client sends content-type application/json by default.
    headers = {"content-type": "application/json", **(headers or {})}
    return requests.post(server.url + path, data=data, headers=headers, timeout=30)


def split(response: requests.Response) -> tuple[dict, bytes]:
    """A binary-extension response as (JSON header, binary section)."""
    length = int(response.headers[BINARY_HEADER])
    return json.loads(response.content[:length]), response.content[length:]


def kserve_expected(raw: bytes) -> dict:
    """An upstream expected JSON body, with our two differences in the header (docs/v2-compatibility.md).

    1. Fields KServe writes as null (``model_version``, ``parameters``) are left out: null is not the string or
       object the OIP schemas allow there.
    2. ``model_name`` is the model we serve, ``model_version`` its version: we serve versions, KServe does not.
    """

    def no_nulls(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: no_nulls(v) for k, v in node.items() if v is not None}
        return [no_nulls(v) for v in node] if isinstance(node, list) else node

    return {**no_nulls(json.loads(raw)), "model_name": MODEL, "model_version": str(VERSION)}


def assert_same_answer(ours: dict, expected: dict) -> None:
    """Equal bodies, outputs compared by name (the OIP gives them no order) and FP32 data as float32.

    KServe writes FP32 data through Python floats (6.800000190734863); orjson writes the shortest text that reads back
    as the same float32 (6.8). Both are the same float32 values.
    """
    assert {k: v for k, v in ours.items() if k != "outputs"} == {k: v for k, v in expected.items() if k != "outputs"}
    ours_by_name = {o["name"]: o for o in ours["outputs"]}
    assert list(ours_by_name) == [o["name"] for o in ours["outputs"]]  # no output twice
    assert sorted(ours_by_name) == sorted(o["name"] for o in expected["outputs"])
    for want in expected["outputs"]:
        got = ours_by_name[want["name"]]
        if want["datatype"] == "FP32" and "data" in want:
            assert np.array_equal(np.float32(got.pop("data")), np.float32(want["data"]))
            want = {k: v for k, v in want.items() if k != "data"}
        assert got == want


def with_signature(body: dict, signature_name: str) -> dict:
    """``body`` for the dummy model that is signature ``signature_name`` here (see the module docstring)."""
    return {**body, "parameters": {**body.get("parameters", {}), "signature_name": signature_name}}


# -- test_server.py, class TestV2Endpoints -----------------------------------------------------------------------------
def test_list_models_v2(server):
    # Port of TestV2Endpoints.test_list_models_v2.
    resp = get(server, "/v2/models")
    assert resp.status_code == 200
    assert resp.json() == {"models": [MODEL]}


def test_infer_v2(server):
    # Port of TestV2Endpoints.test_infer_v2.
    resp = post(server, f"/v2/models/{MODEL}/infer", ECHO_BODY, {"content-type": "application/json"})
    result = json.loads(resp.content)
    assert resp.status_code == 200
    assert result["outputs"][0]["data"] == [1, 2]
    assert resp.headers["content-type"] == "application/json"


def test_infer_parameters_v2(server):
    # Port of TestV2Endpoints.test_infer_parameters_v2: parameters of every OIP type, on the request and on an input,
    # are accepted. (KServe's DummyModel copies them into its answer; that echo is the dummy's code, not the server's.)
    params = {"test-str": "dummy", "test-bool": True, "test-int": 100, "test-float": 1.3}
    body = {
        "id": "123",
        "model_name": MODEL,
        "inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "INT32", "parameters": params, "data": [1, 2]}],
        "parameters": params,
    }
    resp = post(server, f"/v2/models/{MODEL}/infer", body)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {
        "id": "123",
        "model_name": MODEL,
        "model_version": str(VERSION),
        "outputs": [{"name": "output-0", "datatype": "INT32", "shape": [1, 2], "data": [1, 2]}],
    }


FP16_INPUT_EXPECTED = (
    b'{"model_name":"FP16InputModel","model_version":null,"id":"123","parameters":null,"outputs":[{"name":"str_output",'
    b'"shape":[8],"datatype":"BYTES","parameters":null,"data":["cat","dog","cat","dog","cat","dog","cat","dog"]},'
    b'{"name":"fp32_output","shape":[8],"datatype":"FP32","parameters":null,"data":[6.80078125,2.80078125,4.80078125,'
    b"1.400390625,6.0,3.400390625,4.5,1.599609375]}]}"
)


def fp16_input_request(binary: bool) -> tuple[bytes, dict[str, str]]:
    """Upstream's FP16InputModel request: fp16_input in the binary section (``binary``) or as JSON numbers."""
    fp16_input: dict[str, Any] = {"name": "fp16_input", "shape": [2, 4], "datatype": "FP16"}
    raw = FP16_DATA.astype("<f2").tobytes()
    if binary:
        fp16_input["parameters"] = {"binary_data_size": len(raw)}
    else:
        fp16_input["data"] = FP16_DATA.tolist()
    str_input = {"name": "str_input", "shape": [2, 4], "datatype": "BYTES", "data": STR_DATA}
    body = with_signature(
        {"id": "123", "model_name": "FP16InputModel", "inputs": [fp16_input, str_input]}, "fp16_input"
    )
    header = json.dumps(body).encode()
    if not binary:
        return header, {"Content-Type": "application/json"}
    return header + raw, {BINARY_HEADER: str(len(header)), "Content-Type": "application/octet-stream"}


def test_fp16_input_as_binary_data(server):
    # Port of TestV2Endpoints.test_fp16_input_as_binary_data.
    body, headers = fp16_input_request(binary=True)
    resp = post(server, f"/v2/models/{MODEL}/infer", body, headers)
    assert resp.status_code == 200
    assert BINARY_HEADER not in resp.headers  # no output asked for binary data: a plain JSON answer
    assert_same_answer(resp.json(), kserve_expected(FP16_INPUT_EXPECTED))


def test_fp16_input_not_binary_data_is_accepted(server):
    # Port of TestV2Endpoints.test_fp16_input_not_binary_data, where KServe answers 400. Deliberate difference: FP16
    # as JSON numbers is accepted (the OIP lets a server coerce JSON numbers; our TF Serving API takes halves too).
    # The numbers are upstream's fp16_data.tolist(), exact halves, so the answer equals the binary case's.
    body, headers = fp16_input_request(binary=False)
    resp = post(server, f"/v2/models/{MODEL}/infer", body, headers)
    assert resp.status_code == 200
    assert_same_answer(resp.json(), kserve_expected(FP16_INPUT_EXPECTED))


def fp16_output_request(outputs: list[dict] | None = None, parameters: dict | None = None) -> dict:
    """Upstream's FP16OutputModel request, with its requested outputs and request parameters."""
    body: dict[str, Any] = {
        "id": "123",
        "model_name": "FP16OutputModel",
        "inputs": [{"name": "fp32_input", "shape": [2, 4], "datatype": "FP32", "data": FP32_DATA.tolist()}],
    }
    if outputs is not None:
        body["outputs"] = outputs
    if parameters is not None:
        body["parameters"] = parameters
    return with_signature(body, "fp16_output")


# Upstream's expected answers: a JSON header of the given length, then the binary section.
FP16_BINARY_EXPECTED = (
    b'{"id":"123","model_name":"FP16OutputModel","model_version":null,"outputs":[{"name":"fp16_output","shape":[8],'
    b'"datatype":"FP16","parameters":{"binary_data_size":16}},{"name":"fp32_output","shape":[8],"datatype":"FP32",'
    b'"data":[6.800000190734863,2.799999952316284,4.800000190734863,1.399999976158142,6.0,3.4000000953674316,4.5,'
    b"1.600000023841858]}]}\xcdF\x9aA\xcdD\x9a=\x00F\xcdB\x80Df>",
    345,
)
ALL_BINARY_EXPECTED = (
    b'{"id":"123","model_name":"FP16OutputModel","model_version":null,"outputs":[{"name":"fp16_output","shape":[8],'
    b'"datatype":"FP16","parameters":{"binary_data_size":16}},{"name":"fp32_output","shape":[8],"datatype":"FP32",'
    b'"parameters":{"binary_data_size":32}}]}\xcdF\x9aA\xcdD\x9a=\x00F\xcdB\x80Df>\x9a\x99\xd9@333@\x9a\x99\x99@33\xb3?'
    b"\x00\x00\xc0@\x9a\x99Y@\x00\x00\x90@\xcd\xcc\xcc?",
    256,
)


def assert_binary_answer(resp: requests.Response, expected: tuple[bytes, int]) -> None:
    """Same header (as ``assert_same_answer``) and the very same bytes in the binary section."""
    raw, length = expected
    assert resp.status_code == 200
    header, binary = split(resp)
    assert resp.headers["content-type"] == "application/octet-stream"
    assert len(binary) == sum(o.get("parameters", {}).get("binary_data_size", 0) for o in header["outputs"])
    assert_same_answer(header, kserve_expected(raw[:length]))
    assert binary == raw[length:]


def test_fp16_output_as_binary_data(server):
    # Port of TestV2Endpoints.test_fp16_output_as_binary_data. The header length differs from upstream's 345 only by
    # the header's content (kserve_expected); the binary section is byte for byte upstream's.
    outputs = [
        {"name": "fp16_output", "parameters": {"binary_data": True}},
        {"name": "fp32_output", "parameters": {"binary_data": False}},
    ]
    resp = post(server, f"/v2/models/{MODEL}/infer", fp16_output_request(outputs))
    assert_binary_answer(resp, FP16_BINARY_EXPECTED)


def test_fp16_output_not_binary_data_is_answered_in_json(server):
    # Port of TestV2Endpoints.test_fp16_output_not_binary_data, where KServe answers 400. Deliberate difference: an
    # FP16 output asked for as JSON comes as JSON numbers that read back as the same halves, as from TF Serving.
    outputs = [{"name": "fp16_output"}, {"name": "fp32_output", "parameters": {"binary_data": False}}]
    resp = post(server, f"/v2/models/{MODEL}/infer", fp16_output_request(outputs))
    assert resp.status_code == 200
    fp16, fp32 = resp.json()["outputs"]
    assert (fp16["name"], fp16["datatype"], fp16["shape"]) == ("fp16_output", "FP16", [8])
    assert np.array_equal(np.float16(fp16["data"]), FP16_DATA.reshape(-1))
    assert np.array_equal(np.float32(fp32["data"]), FP32_DATA.reshape(-1))


def test_requested_output(server):
    # Port of TestV2Endpoints.test_requested_output.
    resp = post(
        server,
        f"/v2/models/{MODEL}/infer",
        fp16_output_request([{"name": "fp32_output", "parameters": {"binary_data": False}}]),
    )
    assert resp.status_code == 200
    expected = (
        b'{"model_name":"FP16OutputModel","model_version":null,"id":"123","parameters":null,"outputs":[{"name":'
        b'"fp32_output","shape":[8],"datatype":"FP32","parameters":null,"data":[6.800000190734863,2.799999952316284,'
        b"4.800000190734863,1.399999976158142,6.0,3.4000000953674316,4.5,1.600000023841858]}]}"
    )
    assert_same_answer(resp.json(), kserve_expected(expected))


def test_all_output_as_binary_data(server):
    # Port of TestV2Endpoints.test_all_output_as_binary_data.
    resp = post(server, f"/v2/models/{MODEL}/infer", fp16_output_request(parameters={"binary_data_output": True}))
    assert_binary_answer(resp, ALL_BINARY_EXPECTED)


def test_binary_data_parameter_precedence(server):
    # Port of TestV2Endpoints.test_binary_data_parameter_precedence: an output's binary_data overrides the request's
    # binary_data_output.
    outputs = [
        {"name": "fp16_output", "parameters": {"binary_data": True}},
        {"name": "fp32_output", "parameters": {"binary_data": False}},
    ]
    resp = post(server, f"/v2/models/{MODEL}/infer", fp16_output_request(outputs, {"binary_data_output": True}))
    assert_binary_answer(resp, FP16_BINARY_EXPECTED)


# -- test_server.py, class TestModel (its V2 half: model.validate) -----------------------------------------------------
def test_validate_v2_inputs_must_be_a_list(server):
    # Port of TestModel.test_validate, REST_V2 part: {"inputs": "invalid"} is InvalidInput, a 400 over HTTP.
    resp = post(server, f"/v2/models/{MODEL}/infer", {"inputs": "invalid"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "'inputs' must be a non-empty list of tensors"}


def test_validate_v2_empty_inputs_are_rejected(server):
    # Port of TestModel.test_validate, REST_V2 part: KServe's validate() lets {"inputs": []} through. Deliberate
    # difference: a signature cannot run without its inputs, so we answer 400 at once.
    resp = post(server, f"/v2/models/{MODEL}/infer", {"inputs": []})
    assert resp.status_code == 400
    assert resp.json() == {"error": "'inputs' must be a non-empty list of tensors"}


# -- test_server.py, class TestTFHttpServerModelNotReady (V2 cases) ----------------------------------------------------
# A worker of the real server loads and warms up the model before it accepts a connection, so "not ready" cannot be
# reached over the network: these run through the in-process app (tests/fixtures_app.py), the same Flask routes.
@pytest.fixture
def not_ready_client(client, toy_predictor):
    toy_predictor.mark_not_ready()
    try:
        yield client
    finally:
        toy_predictor.mark_ready()


def test_model_not_ready_v2(not_ready_client):
    # Port of TestTFHttpServerModelNotReady.test_model_not_ready_v2 (and the not-ready half of
    # test_dataplane.py TestDataPlane.test_model_readiness).
    resp = not_ready_client.get("/v2/models/toy/ready")
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "model 'toy' is not ready"}  # KServe's ModelNotReady is an error object too


def test_infer_model_not_ready(not_ready_client):
    # Port of TestTFHttpServerModelNotReady.test_infer.
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [[1, 2, 3]]}]}
    resp = not_ready_client.post("/v2/models/toy/infer", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "model 'toy' is not ready"}


# -- test_server.py, classes TestTFHttpServerLoadAndUnLoad(Failure): not served ----------------------------------------
@pytest.mark.parametrize("action", ["load", "unload"])
def test_model_repository_extension_is_not_served(server, action):
    # test_load, test_unload, test_load_fail and test_unload_fail exercise KServe's model repository extension,
    # which a server of one SavedModel does not offer: its routes are unknown here (a JSON 404), and server metadata
    # does not list the extension.
    resp = requests.post(f"{server.url}/v2/repository/models/{MODEL}/{action}", data=b"", timeout=30)
    assert resp.status_code == 404
    assert set(resp.json()) == {"error"}
    assert "model_repository_extension" not in get(server, "/v2").json()["extensions"]


# -- test_dataplane.py, class TestDataPlane: the data plane behind the V2 routes ---------------------------------------
def test_get_model_from_registry(server):
    # Port of TestDataPlane.test_get_model_from_registry: an unknown model is ModelNotFound, a 404 over HTTP, on
    # every per-model V2 route; the message names the model (KServe: "Model with name FakeModel does not exist.").
    for method, path in [
        ("GET", "/v2/models/FakeModel"),
        ("GET", "/v2/models/FakeModel/ready"),
        ("POST", "/v2/models/FakeModel/infer"),
    ]:
        resp = requests.request(method, server.url + path, data=ECHO_BODY, timeout=30)
        assert resp.status_code == 404, path
        assert set(resp.json()) == {"error"} and "'FakeModel' not found" in resp.json()["error"], path
    assert get(server, f"/v2/models/{MODEL}").status_code == 200


def test_liveness(server):
    # Port of TestDataPlane.test_liveness, through the V2 route that turns it into {"live": true}.
    resp = get(server, "/v2/health/live")
    assert resp.status_code == 200
    assert resp.json() == {"live": True}


def test_server_readiness(server):
    # Port of TestDataPlane.test_server_readiness (ready model). KServe's server stays ready whatever its models'
    # state; ours is ready when its one model is (the OIP: "all the models are ready"), pinned in
    # tests/web/test_v2_api.py::test_not_ready.
    resp = get(server, "/v2/health/ready")
    assert resp.status_code == 200
    assert resp.json() == {"ready": True}


def test_model_readiness(server):
    # Port of TestDataPlane.test_model_readiness (ready model; the not-ready half is test_model_not_ready_v2).
    for path in (f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/{VERSION}/ready"):
        resp = get(server, path)
        assert resp.status_code == 200, path
        assert resp.json() == {"name": MODEL, "ready": True}, path


def test_server_metadata(server):
    # Port of TestDataPlane.test_server_metadata. The name and version are this server's ("kserve" and KServe's
    # version upstream); the extensions are the ones we implement (KServe: model_repository_extension).
    from app import __version__

    for path in ("/v2", "/v2/"):
        resp = get(server, path)
        assert resp.status_code == 200, path
        assert resp.json() == {
            "name": "tf-cloudrun-serving",
            "version": __version__,
            "extensions": ["binary_tensor_data"],
        }


def test_model_metadata(server):
    # Port of TestDataPlane.test_model_metadata. KServe's dummy has no signature, so upstream expects platform ""
    # and empty inputs/outputs; a SavedModel has a signature, so ours lists its tensors (-1: any size), and the
    # versions that may be asked for.
    resp = get(server, f"/v2/models/{MODEL}")
    assert resp.status_code == 200
    assert resp.json() == {
        "name": MODEL,
        "versions": [str(VERSION)],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "input-0", "datatype": "INT32", "shape": [-1, -1]}],
        "outputs": [{"name": "output-0", "datatype": "INT32", "shape": [-1, -1]}],
    }
    assert get(server, f"/v2/models/{MODEL}/versions/{VERSION}").json() == resp.json()


# -- KServe's input checks that its tests do not reach: kserve/protocol/infer_type.py ----------------------------------
@pytest.mark.parametrize(
    ("tensor", "status", "message"),
    [
        # InferInput.as_numpy: an unknown datatype is InvalidInput ("invalid datatype None in the input"), a 400.
        ({"datatype": "INT33"}, 400, "input 'input-0': unknown datatype 'INT33'"),
        # A datatype other than the signature's: KServe's dummy would convert; a SavedModel cannot, so 400.
        ({"datatype": "FP32"}, 400, "input 'input-0' has datatype FP32 but the model expects INT32"),
        # InferRequest.from_bytes: "'data' field is missing for input ..." is InvalidInput, a 400.
        ({"data": None}, 400, "input 'input-0' has no 'data'"),
        # as_numpy's reshape raises ValueError, which KServe's generic handler answers with 500. Deliberate
        # difference: data that does not fill the shape is the client's error, a 400.
        ({"shape": [2, 2]}, 400, "input 'input-0' has 2 values but shape [2, 2] needs 4"),
    ],
)
def test_input_errors_are_400_json(server, tensor, status, message):
    sent = {"name": "input-0", "shape": [1, 2], "datatype": "INT32", "data": [1, 2], **tensor}
    sent = {k: v for k, v in sent.items() if v is not None}
    resp = post(server, f"/v2/models/{MODEL}/infer", {"inputs": [sent]})
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"error": message}
