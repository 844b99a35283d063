"""TF Serving's REST handler tests, its model server's REST cases and its documented examples, over HTTP.

Sources (tensorflow/serving): ``model_servers/http_rest_api_handler_test.cc`` (HttpRestApiHandlerTest.*),
``model_servers/tensorflow_model_server_test.py`` (testPredictREST, testPredictColumnarREST),
``g3doc/docker.md`` (the quick start) and ``g3doc/api_rest.md`` (the worked examples). The models are TF Serving's
own test models built by its generator (``model_export/half_plus_two.py``), served by a real gunicorn
(``tests/conformance/conftest.py``) set up as each upstream test sets up its server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.integration.server import free_port, run_server

MODEL = "saved_model_half_plus_two_2_versions"  # the handler test's kTestModelName
TESTDATA = Path(__file__).parent / "data"


def post(server, path: str, body: str | bytes | None = None, **kwargs) -> requests.Response:
    return requests.post(server.url + path, data=body, timeout=30, **kwargs)


def get(server, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=30)


def error_of(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


# -- HttpRestApiHandlerTest.UnsupportedApiCalls: every one a 400 --------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "phrase"),
    [
        ("GET", "/v1/foo", "Malformed request"),
        ("POST", "/v1/foo", "Malformed request"),
        ("GET", "/v1/models", "Missing model name"),
        ("GET", "/v1/models/debug/model_name", "Malformed request"),
        ("POST", "/v1/models", "Malformed request"),
        ("GET", "/v1/models/foo:predict", "Malformed request"),
        ("GET", "/v1/models/foo/version/50:predict", "Malformed request"),
        ("POST", "/v1/models/foo/version/50:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"),
        ("POST", f"/v1/models/foo/versions/{2**64 - 1}:regress", "Failed to convert version"),
        ("POST", "/v1/models/foo/metadata", "Malformed request"),
        ("POST", "/v1/models/foo/label/some_label:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", "Malformed request"),
        ("POST", "/v1/models/foo/versions/some_label:regress", "Malformed request"),
    ],
)
def test_unsupported_api_calls(handler_test_server, method, path, phrase):
    response = requests.request(method, handler_test_server.url + path, data="", timeout=30)
    assert response.status_code == 400
    assert phrase in error_of(response)


# -- HttpRestApiHandlerTest.PredictModelNameVersionErrors: 404 -----------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/v1/models/foo:predict", "/v1/models/foo/versions/50:predict", f"/v1/models/{MODEL}99:predict"]
)
def test_predict_model_name_version_errors(handler_test_server, path):
    response = post(handler_test_server, path, '{ "instances": [1] }')
    assert response.status_code == 404
    assert "Servable not found for request" in error_of(response)


# -- HttpRestApiHandlerTest.PredictRequestErrors: 400 --------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "phrase"),
    [
        (f"/v1/models/{MODEL}:predict", "", ""),  # upstream: "JSON Parse error: The document is empty"
        (f"/v1/models/{MODEL}:predict", "instances = [1, 2]", "not valid JSON"),  # upstream: "JSON Parse error"
        (f"/v1/models/{MODEL}:predict", '{ "instances": ["x", "y"] }', "float32"),  # "not of expected type: float"
        (
            f"/v1/models/{MODEL}/labels/Version_Nonexistent:predict",
            '{ "instances": ["x", "y"] }',
            "Unrecognized servable version label",
        ),
        (f"/v1/models/{MODEL}:predict", '{ "signature_name": 100 }', "'signature_name' key must be a string value."),
    ],
)
def test_predict_request_errors(handler_test_server, path, body, phrase):
    response = post(handler_test_server, path, body)
    assert response.status_code == 400
    assert phrase in error_of(response)


# -- HttpRestApiHandlerTest.Predict --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            f"/v1/models/{MODEL}:predict",
            '{"instances": [[1.0, 2.0], [3.0, 4.0]]}',
            {"predictions": [[2.5, 3.0], [3.5, 4.0]]},
        ),
        (f"/v1/models/{MODEL}/versions/123:predict", '{"instances": [1.0, 2.0]}', {"predictions": [2.5, 3.0]}),
        (f"/v1/models/{MODEL}/labels/Version_Label:predict", '{"instances": [1.0, 2.0]}', {"predictions": [2.5, 3.0]}),
        (
            f"/v1/models/{MODEL}/versions/123:predict",
            '{"signature_name": "serving_default", "instances": [3.0, 4.0]}',
            {"predictions": [3.5, 4.0]},
        ),
        (
            f"/v1/models/{MODEL}/versions/123:predict",
            '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}',
            {"outputs": [3.5, 4.0]},
        ),
    ],
)
def test_predict(handler_test_server, path, body, expected):
    response = post(handler_test_server, path, body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == expected


# -- HttpRestApiHandlerTest.GetStatus ------------------------------------------------------------------------------
STATUS_123 = {
    "model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}


@pytest.mark.parametrize(
    "path", [f"/v1/models/{MODEL}", f"/v1/models/{MODEL}/versions/123", f"/v1/models/{MODEL}/labels/Version_Label"]
)
def test_get_status(handler_test_server, path):
    response = get(handler_test_server, path)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == STATUS_123


# -- HttpRestApiHandlerTest.GetModelMetadata: compared with TF Serving's own golden file ---------------------------
def test_get_model_metadata(handler_test_server):
    """``saved_model_half_plus_two_2_versions_metadata.json`` is TF Serving's expected answer, copied verbatim from
    tensorflow/serving@9d981c5c (servables/tensorflow/testdata)."""
    golden = json.loads((TESTDATA / "saved_model_half_plus_two_2_versions_metadata.json").read_text())
    response = get(handler_test_server, f"/v1/models/{MODEL}/metadata")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == golden


# -- tensorflow_model_server_test.py: testPredictREST, testPredictColumnarREST -------------------------------------
def test_predict_rest(half_plus_two_server):  # TensorflowModelServerTest.testPredictREST
    response = post(half_plus_two_server, "/v1/models/half_plus_two:predict", json.dumps({"instances": [2.0]}))
    assert response.json() == {"predictions": [3.0]}


def test_predict_columnar_rest(half_plus_two_server):  # TensorflowModelServerTest.testPredictColumnarREST
    response = post(half_plus_two_server, "/v1/models/half_plus_two:predict", json.dumps({"inputs": [2.0]}))
    assert response.json() == {"outputs": [3.0]}


# -- g3doc/docker.md and g3doc/api_rest.md, run with curl as written -----------------------------------------------
def curl(*args: str) -> tuple[int, str]:
    result = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=30)
    body, _, code = result.stdout.rpartition("\n")
    return int(code), body


requires_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)")


@requires_curl
def test_docker_quick_start(half_plus_two_server):  # g3doc/docker.md
    code, body = curl(
        "-d",
        '{"instances": [1.0, 2.0, 5.0]}',
        "-X",
        "POST",
        f"{half_plus_two_server.url}/v1/models/half_plus_two:predict",
    )
    assert code == 200 and json.loads(body) == {"predictions": [2.5, 3.0, 4.5]}


@requires_curl
def test_docker_quick_start_layout(half_plus_two_base_dir, tmp_path):  # g3doc/docker.md, its flags
    """``-v DIR:/models/half_plus_two -e MODEL_NAME=half_plus_two -p 8501:8501``: no MODEL_URI, TF Serving's layout,
    and TF Serving's REST port (REST_API_PORT, which the image sets to 8501) next to PORT."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "half_plus_two").symlink_to(half_plus_two_base_dir)
    rest_port = free_port()
    env = {
        "MODEL_BASE_PATH": str(models),
        "MODEL_NAME": "half_plus_two",
        "REST_API_PORT": str(rest_port),
        "WORKERS": "1",
    }
    with run_server(env, tmp_path) as server:
        url = f"http://127.0.0.1:{rest_port}/v1/models/half_plus_two:predict"
        code, body = curl("-d", '{"instances": [1.0, 2.0, 5.0]}', "-X", "POST", url)
        assert code == 200 and json.loads(body) == {"predictions": [2.5, 3.0, 4.5]}
        assert requests.get(server.url + "/v1/models/half_plus_two", timeout=30).status_code == 200


@requires_curl
def test_api_rest_unknown_model(half_plus_two_server):  # g3doc/api_rest.md: "An incorrect request URL ..."
    code, body = curl(
        "-d", '{"instances": [1.0,5.0]}', "-X", "POST", f"{half_plus_two_server.url}/v1/models/half:predict"
    )
    assert code == 404 and json.loads(body) == {"error": "Servable not found for request: Latest(half)"}


@requires_curl
def test_api_rest_status_and_predict_half_plus_three(half_plus_three_server):  # g3doc/api_rest.md
    code, body = curl(f"{half_plus_three_server.url}/v1/models/saved_model_half_plus_three")
    assert code == 200 and json.loads(body) == STATUS_123
    code, body = curl(
        "-d",
        '{"instances": [1.0,2.0,5.0]}',
        "-X",
        "POST",
        f"{half_plus_three_server.url}/v1/models/saved_model_half_plus_three:predict",
    )
    assert code == 200 and json.loads(body) == {"predictions": [3.5, 4.0, 5.5]}
    code, body = curl(
        "-d",
        '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}',
        "-X",
        "POST",
        f"{half_plus_three_server.url}/v1/models/saved_model_half_plus_three:regress",
    )
    assert code == 200 and json.loads(body) == {"results": [3.5, 4.0]}


# -- versions and labels (the two-version model) -------------------------------------------------------------------
def test_two_versions_status_lists_both(two_versions_server):
    response = get(two_versions_server, "/v1/models/saved_model_half_plus_two_2_versions")
    assert [(s["version"], s["state"]) for s in response.json()["model_version_status"]] == [
        ("124", "AVAILABLE"),
        ("123", "AVAILABLE"),
    ]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("", [3.5]),
        ("/versions/123", [2.5]),
        ("/versions/124", [3.5]),
        ("/labels/stable", [2.5]),
        ("/labels/canary", [3.5]),
    ],
)
def test_two_versions_routing(two_versions_server, route, expected):
    response = post(
        two_versions_server, f"/v1/models/saved_model_half_plus_two_2_versions{route}:predict", '{"instances": [1.0]}'
    )
    assert response.status_code == 200 and response.json() == {"predictions": expected}


def test_unknown_label_and_version(two_versions_server):
    base = "/v1/models/saved_model_half_plus_two_2_versions"
    label = post(two_versions_server, f"{base}/labels/beta:predict", '{"instances": [1.0]}')
    assert label.status_code == 400 and error_of(label) == "Unrecognized servable version label: beta"
    version = post(two_versions_server, f"{base}/versions/125:predict", '{"instances": [1.0]}')
    assert version.status_code == 404
    status = get(two_versions_server, f"{base}/versions/125")
    assert status.status_code == 404


def test_two_versions_answer_with_their_own_version_header(two_versions_server):
    base = "/v1/models/saved_model_half_plus_two_2_versions"
    assert (
        post(two_versions_server, f"{base}/versions/123:predict", '{"instances": [1.0]}').headers["X-Model-Version"]
        == "123"
    )
    assert (
        post(two_versions_server, f"{base}/labels/canary:predict", '{"instances": [1.0]}').headers["X-Model-Version"]
        == "124"
    )
    assert post(two_versions_server, f"{base}:predict", '{"instances": [1.0]}').headers["X-Model-Version"] == "124"


def test_two_versions_over_v2(two_versions_server):
    """The V2 routes serve every version too: /versions/{v}/infer picks one, the model metadata lists them."""
    base = "/v2/models/saved_model_half_plus_two_2_versions"
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}
    for route, expected in (("", 3.5), ("/versions/123", 2.5), ("/versions/124", 3.5)):
        response = requests.post(f"{two_versions_server.url}{base}{route}/infer", json=body, timeout=30)
        assert response.status_code == 200 and response.json()["outputs"][0]["data"] == [expected], route
    assert requests.get(f"{two_versions_server.url}{base}/versions/125/infer", timeout=30).status_code in (404, 405)
    assert get(two_versions_server, base).json()["versions"] == ["123", "124"]
    assert get(two_versions_server, "/v2/health/ready").status_code == 200


def test_paths_are_case_sensitive(handler_test_server):
    """Deliberate difference: TF Serving matches /v1/ paths case-insensitively ((?i) in its regex); we do not."""
    response = post(handler_test_server, f"/V1/MODELS/{MODEL}:predict", '{"instances": [1.0]}')
    assert response.status_code == 404


def test_deeply_nested_ignored_key(handler_test_server):
    """JsontensorTest.DeeplyNestedWellFormed: TF Serving accepts 500,000 levels in a key it ignores. Deliberate
    difference: an ignored key is still held to MAX_NESTING_DEPTH (parsing it costs memory and time all the same)."""
    body = '{"instances": [1.0], "nested": ' + "[" * 500_000 + "]" * 500_000 + "}"
    response = post(handler_test_server, f"/v1/models/{MODEL}:predict", body)
    assert response.status_code == 400 and "MAX_NESTING_DEPTH" in error_of(response)
