"""TF Serving REST API through Flask's test client, against the real toy SavedModel."""

import orjson
import pytest


def post(client, path, body, **kw):
    return client.post(path, data=orjson.dumps(body), content_type="application/json", **kw)


def test_row_predict_returns_one_object_per_instance(client):
    r = post(client, "/v1/models/toy:predict", {"instances": [[1, 2, 3], [4, 5, 6]]})
    assert r.status_code == 200
    assert r.get_json() == {
        "predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}, {"total": 15.0, "y": [8.0, 10.0, 12.0]}]
    }


def test_versioned_route_columnar_and_single_output(client):
    r = post(client, "/v1/models/toy/versions/7:predict", {"signature_name": "single", "inputs": [1.5, 2]})
    assert r.status_code == 200 and r.get_json() == {"outputs": [3.0, 4.0]}
    r = post(client, "/v1/models/toy:predict", {"signature_name": "single", "instances": [1.5, 2]})
    assert r.get_json() == {"predictions": [3.0, 4.0]}


def test_named_inputs_in_both_formats(client):
    rows = {"signature_name": "multi", "instances": [{"a": [1, 2], "b": 0.5}, {"a": [3, 4], "b": 1}]}
    cols = {"signature_name": "multi", "inputs": {"a": [[1, 2], [3, 4]], "b": [0.5, 1]}}
    assert post(client, "/v1/models/toy:predict", rows).get_json() == {"predictions": [3.5, 8.0]}
    assert post(client, "/v1/models/toy:predict", cols).get_json() == {"outputs": [3.5, 8.0]}


def test_bytes_in_and_out(client):
    r = post(client, "/v1/models/toy:predict", {"signature_name": "text", "instances": ["abc", {"b64": "/w=="}]})
    assert r.get_json() == {
        "predictions": [
            {"length": 3, "upper_bytes": {"b64": "QUJD"}, "echo": "abc"},
            {"length": 1, "upper_bytes": {"b64": "/w=="}, "echo": {"b64": "/w=="}},
        ]
    }


def test_nan_tokens_in_and_out(client):
    r = client.post(
        "/v1/models/toy:predict",
        data=b'{"signature_name": "log", "instances": [0, 1, NaN, -1]}',
        content_type="application/json",
    )
    assert r.status_code == 200
    assert r.get_data() == b'{"predictions":[-Infinity,0.0,NaN,NaN]}'


def test_plain_predict_route_and_curl_default_content_type(client):
    r = client.post("/predict", data=b'{"instances": [[0, 0, 1]]}', content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.get_json()["predictions"][0]["total"] == 1.0


def test_status_and_metadata(client):
    assert client.get("/v1/models/toy").get_json() == {
        "model_version_status": [
            {"version": "7", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert client.get("/v1/models/toy/versions/7").status_code == 200
    meta = client.get("/v1/models/toy/metadata").get_json()
    assert meta["model_spec"] == {"name": "toy", "signature_name": "", "version": "7"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert sig["inputs"]["x"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}],
        "unknown_rank": False,
    }
    assert set(meta["metadata"]["signature_def"]["signature_def"]) >= {"multi", "text", "serving_default"}


def test_every_response_names_request_model_and_version(client):
    r = post(client, "/v1/models/toy:predict", {"instances": [[1, 2, 3]]}, headers={"X-Request-Id": "abc-123"})
    assert (r.headers["X-Request-Id"], r.headers["X-Model-Name"], r.headers["X-Model-Version"]) == (
        "abc-123",
        "toy",
        "7",
    )
    r = client.get("/nope", headers={"X-Request-Id": "<script>"})
    assert r.status_code == 404 and len(r.headers["X-Request-Id"]) == 32 and r.headers["X-Model-Version"] == "7"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "/v1/models/toy:predict",
            {"inputs": 5.0},
            400,
            "the model rejected inputs of shape x [] (signature 'serving_default' expects x [-1,3])",
        ),
        (
            "/v1/models/toy:predict",
            {"instances": [["a", "b", "c"]]},
            400,
            "must hold numbers (float32), got strings",
        ),
        ("/v1/models/toy:predict", {"instances": [{"x": [1, 2, 3], "z": [1]}]}, 400, "unknown input 'z'"),
        ("/v1/models/toy:predict", {"inputs": {"z": [1]}}, 400, "Missing named input: x in 'inputs' object"),
        (
            "/v1/models/toy:predict",
            {"signature_name": "multi", "inputs": {"a": [[1, 2]]}},
            400,
            "Missing named input: b in 'inputs' object",
        ),
        ("/v1/models/toy:predict", {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}, 400, "not both"),
        (
            "/v1/models/toy:predict",
            {"signature_name": "checked", "instances": [-1.0]},
            400,
            "the model rejected the input: assertion failed: x must be >= 0.",
        ),
        ("/v1/models/toy:predict", {"signature_name": "scalar_out", "instances": [1.0]}, 400, "columnar"),
        (
            "/v1/models/toy:predict",
            {"signature_name": "nope", "instances": [1]},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            "/v1/models/other:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Latest(other)",
        ),
        (
            "/v1/models/toy/versions/8:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Specific(toy, 8)",
        ),
        (
            "/v1/models/toy/labels/stable:predict",
            {"instances": [1]},
            400,
            "Unrecognized servable version label: stable",
        ),
    ],
)
def test_errors_have_tf_serving_codes_and_clear_messages(client, path, body, status, message):
    """Codes as TF Serving's handler answers them (tests/conformance/test_tfserving_rest.py ports its own tests)."""
    r = post(client, path, body)
    assert r.status_code == status
    assert r.get_json() == {"error": r.get_json()["error"]} and message in r.get_json()["error"]


def test_any_shape_reaches_the_model_as_in_tf_serving(client):
    """TF Serving hands the graph what was sent: [1,2] for an input of shape [-1,3] works where the graph allows it."""
    r = post(client, "/v1/models/toy:predict", {"instances": [[1, 2]]})
    assert r.status_code == 200 and r.get_json() == {"predictions": [{"total": 3.0, "y": [2.0, 4.0]}]}


def test_transport_errors(client):
    r = client.post("/v1/models/toy:predict", data=b'{"instances": [[1,2,3]', content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"].startswith("request body is not valid JSON")
    r = client.post("/v1/models/toy:predict", data=b"<xml/>", content_type="application/xml")
    assert r.status_code == 415 and "application/json" in r.get_json()["error"]
    r = client.post("/v1/models/toy:predict", data=b"", content_type="application/json")
    assert r.status_code == 400 and "empty" in r.get_json()["error"]
    r = client.get("/v1/models/toy:predict")  # as TF Serving: a method outside its grammar is a malformed request
    assert r.status_code == 400 and r.get_json() == {"error": "Malformed request: GET /v1/models/toy:predict"}
    r = client.get("/predict")
    assert r.status_code == 405 and r.get_json()["error"] == "method not allowed for this route"
    big = b'{"instances": [' + b"1.0," * 40_000 + b"1.0]}"
    r = client.post("/predict", data=big, content_type="application/json")
    assert r.status_code == 413 and "MAX_REQUEST_BYTES" in r.get_json()["error"]


def test_not_ready_is_503(client, toy_predictor):
    toy_predictor.mark_not_ready()
    try:
        r = post(client, "/v1/models/toy:predict", {"instances": [[1, 2, 3]]})
        assert r.status_code == 503 and r.get_json() == {"error": "model 'toy' is not ready"}
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/models/toy").get_json()["model_version_status"][0]["state"] == "LOADING"
    finally:
        toy_predictor.mark_ready()
