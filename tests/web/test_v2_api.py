"""V2 / Open Inference Protocol routes through Flask's test client, against the real toy SavedModel."""

import numpy as np
import orjson
import pytest


def infer(client, body, path="/v2/models/toy/infer", **kw):
    return client.post(path, data=orjson.dumps(body), content_type="application/json", **kw)


X = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}


def test_server_and_model_metadata(client):
    assert client.get("/v2").get_json() == {
        "name": "tf-cloudrun-serving",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2/").get_json() == client.get("/v2").get_json()  # the OIP OpenAPI path has the slash
    assert client.get("/v2/models").get_json() == {"models": ["toy"]}  # KServe's model list
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get("/v2/models/toy/ready").get_json() == {"name": "toy", "ready": True}
    assert client.get("/v2/models/toy/versions/7/ready").status_code == 200
    meta = client.get("/v2/models/toy").get_json()
    assert meta == {
        "name": "toy",
        "versions": ["7"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [
            {"name": "total", "datatype": "FP32", "shape": [-1]},
            {"name": "y", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }


def test_infer_json(client):
    r = infer(client, {"id": "42", "inputs": [X], "outputs": [{"name": "total"}]})
    assert r.status_code == 200
    assert r.get_json() == {
        "id": "42",
        "model_name": "toy",
        "model_version": "7",
        "outputs": [{"name": "total", "datatype": "FP32", "shape": [2], "data": [6.0, 15.0]}],
    }


def test_response_id_defaults_to_the_request_id(client):
    # The OIP response object always has an "id" (KServe generates one); ours is the id of the access log line.
    r = infer(client, {"inputs": [X]}, headers={"X-Request-Id": "trace-me-1"})
    assert r.get_json()["id"] == "trace-me-1" == r.headers["X-Request-Id"]
    r = infer(client, {"inputs": [X]})
    assert r.get_json()["id"] == r.headers["X-Request-Id"] and len(r.get_json()["id"]) == 32
    r = infer(client, {"id": "", "inputs": [X]})
    assert r.get_json()["id"] == ""  # an id the client gave is echoed as it is


def test_infer_versioned_multi_input_and_bytes(client):
    body = {
        "parameters": {"signature_name": "multi"},
        "inputs": [
            {"name": "a", "shape": [1, 2], "datatype": "INT64", "data": [[1, 2]]},
            {"name": "b", "shape": [1], "datatype": "FP32", "data": [0.5]},
        ],
    }
    assert infer(client, body, "/v2/models/toy/versions/7/infer").get_json()["outputs"][0]["data"] == [3.5]
    body = {
        "parameters": {"signature_name": "text"},
        "inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hi", "there"]}],
        "outputs": [{"name": "length"}],
    }
    assert infer(client, body).get_json()["outputs"] == [
        {"name": "length", "datatype": "INT32", "shape": [2], "data": [2, 5]}
    ]


def test_infer_binary_extension(client):
    header = orjson.dumps(
        {
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}],
            "parameters": {"binary_data_output": True},
        }
    )
    body = header + np.array([1, 2, 3], "<f4").tobytes()
    r = client.post(
        "/v2/models/toy/infer",
        data=body,
        content_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    split = int(r.headers["Inference-Header-Content-Length"])
    meta = orjson.loads(r.get_data()[:split])
    assert [o["parameters"]["binary_data_size"] for o in meta["outputs"]] == [4, 12]
    assert np.frombuffer(r.get_data()[split:], "<f4").tolist() == [6.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/toy/infer", {"inputs": [{**X, "datatype": "INT32"}]}, 400, "expects FP32"),
        (
            "/v2/models/toy/infer",
            {"inputs": [{**X, "shape": [3, 3]}]},
            400,
            "has 6 values but shape [3, 3] needs 9",
        ),
        ("/v2/models/toy/infer", {"inputs": [{**X, "shape": [3, 2]}]}, 400, "has shape [3,2]"),
        ("/v2/models/toy/infer", {"inputs": "x"}, 400, "non-empty list"),
        ("/v2/models/nope/infer", {"inputs": [X]}, 404, "model 'nope' not found"),
        ("/v2/models/toy/versions/1/infer", {"inputs": [X]}, 404, "version 1 of model 'toy' not found"),
        (
            "/v2/models/toy/infer",
            {"inputs": [X], "parameters": {"signature_name": "zzz"}},
            400,  # a bad request parameter (app.predictor: TF Serving's status and words for it)
            '"zzz" not found',
        ),
    ],
)
def test_infer_errors(client, path, body, status, message):
    r = infer(client, body, path)
    assert r.status_code == status and message in r.get_json()["error"]


def test_binary_header_errors(client):
    r = client.post(
        "/v2/models/toy/infer",
        data=b"{}",
        content_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": "99"},
    )
    assert r.status_code == 400 and "does not fit" in r.get_json()["error"]
    r = client.post("/v2/models/toy/infer", data=b"{}", content_type="application/octet-stream")
    assert r.status_code == 400  # octet-stream without the header is parsed as JSON: {} has no inputs
    assert client.get("/v2/models/toy/infer").status_code == 405


def test_not_ready(client, toy_predictor):
    toy_predictor.mark_not_ready()
    try:
        # As KServe's V2 server: "not ready" is a 503 with the error object, like every other failure.
        for path in ("/v2/health/ready", "/v2/models/toy/ready", "/v2/models/toy/versions/7/ready"):
            r = client.get(path)
            assert (r.status_code, r.get_json()) == (503, {"error": "model 'toy' is not ready"}), path
        r = infer(client, {"inputs": [X]})
        assert (r.status_code, r.get_json()) == (503, {"error": "model 'toy' is not ready"})
        assert client.get("/v2/health/live").status_code == 200
    finally:
        toy_predictor.mark_ready()
