"""Our V2 answers, success and error, validated against the Open Inference Protocol's response schemas.

The schemas are the OIP OpenAPI document as KServe publishes it (``data/rest_predict_v2.yaml``, source and commit
in its header) and, for the routes that document leaves without a body schema (live, ready, model ready, model
list), KServe's V2 response models (``data/kserve_v2_datamodels.yaml``). Validation is closed: an object with
declared properties may not carry others (``parameters`` stays free-form, as the OIP defines it), so a stray field
fails as a missing one does.

Most answers come from the real server serving TF Serving's half_plus_two (``half_plus_two_server`` in conftest.py);
"not ready" cannot be reached over the network (a worker accepts connections only once its model is warm) and the
BYTES cases need the toy model's ``text`` signature, so those run through the in-process app (tests/fixtures_app.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import yaml

from tests.conformance.test_kserve_v2 import FP16_INPUT_EXPECTED

DATA = Path(__file__).parent / "data"
BINARY_HEADER = "Inference-Header-Content-Length"
MODEL, VERSION = "half_plus_two", 123  # half_plus_two: serving_default x FP32 [-1,1] -> y = 0.5x + 2


def closed(components: dict[str, Any]) -> dict[str, Any]:
    """``components`` with ``additionalProperties: false`` on every object schema that lists its properties."""
    result = copy.deepcopy(components)
    for schema in result["schemas"].values():
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
    return result


OIP = closed(yaml.safe_load((DATA / "rest_predict_v2.yaml").read_text())["components"])
KSERVE = closed(yaml.safe_load((DATA / "kserve_v2_datamodels.yaml").read_text())["components"])


def binary_extension(components: dict[str, Any]) -> dict[str, Any]:
    """The OIP schemas as Triton's binary tensor extension amends them: an output sent in the binary section has
    ``parameters.binary_data_size`` instead of ``data``."""
    result = copy.deepcopy(components)
    output = result["schemas"]["response_output"]
    output["required"] = [r for r in output["required"] if r != "data"]
    in_binary = {"required": ["parameters"], "properties": {"parameters": {"required": ["binary_data_size"]}}}
    output["oneOf"] = [{"required": ["data"]}, in_binary]  # one or the other, never both
    return result


OIP_BINARY = binary_extension(OIP)


def errors(name: str, body: Any, components: dict[str, Any] = OIP) -> list[str]:
    """Why ``body`` does not fit schema ``name`` of ``components`` (empty: it fits)."""
    validator = jsonschema_rs.Draft4Validator({"$ref": f"#/components/schemas/{name}", "components": components})
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(body)]


def check(response: Any, status: int, name: str, components: dict[str, Any] = OIP) -> Any:
    """Assert the status, a JSON content type, and that the body fits schema ``name``; return the body."""
    code, content_type, body = _parts(response)
    assert code == status, body
    assert content_type == "application/json"
    assert errors(name, body, components) == [], body
    return body


def check_error(response: Any, status: int, name: str) -> str:
    """An error answer: the status, schema ``name`` (an ``{"error": string}`` object), and a message."""
    body = check(response, status, name)
    assert set(body) == {"error"} and body["error"], body  # inference_error_response does not mark it required
    return body["error"]


def _parts(response: Any) -> tuple[int, str, Any]:
    if isinstance(response, requests.Response):
        return response.status_code, response.headers["content-type"], response.json()
    return response.status_code, response.mimetype, response.get_json()  # Flask's test client


@pytest.fixture(scope="module")
def url(half_plus_two_server) -> str:
    return half_plus_two_server.url


def get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, timeout=30)


def post(url: str, path: str, body: Any, **kw: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return requests.post(url + path, data=data, headers=headers, timeout=30, **kw)


X = {"name": "x", "shape": [3, 1], "datatype": "FP32", "data": [1.0, 2.0, 5.0]}


# -- the validator itself ----------------------------------------------------------------------------------------------
def test_the_schemas_reject_what_they_should():
    # Without these, a schema typo could make every check below pass.
    assert errors("metadata_server_response", {"name": "s", "version": "1"})  # extensions missing
    assert errors("metadata_model_response", {"name": "m", "platform": "p", "inputs": [{"name": "x"}]})
    assert errors("inference_response", {"model_name": "m", "outputs": [], "extra": 1})  # closed
    assert errors("inference_error_response", {"error": 5})
    assert errors("ModelReadyResponse", {"name": "m"}, KSERVE)
    # KServe writes absent fields as null ("model_version": null, "parameters": null): not what the OIP schemas
    # allow there, which is why our answers leave such fields out (docs/v2-compatibility.md).
    assert errors("inference_response", json.loads(FP16_INPUT_EXPECTED))
    assert errors(
        "inference_response", {"model_name": "m", "outputs": [{"name": "y", "shape": [1], "datatype": "FP32"}]}
    )
    binary_output = {"name": "y", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
    assert errors("inference_response", {"model_name": "m", "outputs": [binary_output]}, OIP_BINARY) == []
    assert errors("inference_response", {"model_name": "m", "outputs": [{**binary_output, "data": [1.0]}]}, OIP_BINARY)


# -- server and model metadata -----------------------------------------------------------------------------------------
def test_server_metadata(url):
    for path in ("/v2", "/v2/"):  # the OIP document's path is /v2/
        check(get(url, path), 200, "metadata_server_response")


def test_model_metadata(url):
    for path in (f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/{VERSION}"):
        body = check(get(url, path), 200, "metadata_model_response")
        assert body["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]


@pytest.mark.parametrize("path", ["/v2/models/nope", f"/v2/models/{MODEL}/versions/9"])
def test_model_metadata_errors(url, path):
    check_error(get(url, path), 404, "metadata_model_error_response")


# -- health (schemas: KServe's response models) ------------------------------------------------------------------------
def test_health_and_model_list(url):
    check(get(url, "/v2/health/live"), 200, "ServerLiveResponse", KSERVE)
    check(get(url, "/v2/health/ready"), 200, "ServerReadyResponse", KSERVE)
    for path in (f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/{VERSION}/ready"):
        assert check(get(url, path), 200, "ModelReadyResponse", KSERVE) == {"name": MODEL, "ready": True}
    assert check(get(url, "/v2/models"), 200, "ListModelsResponse", KSERVE) == {"models": [MODEL]}


@pytest.mark.parametrize("path", ["/v2/models/nope/ready", f"/v2/models/{MODEL}/versions/9/ready"])
def test_model_ready_errors(url, path):
    check_error(get(url, path), 404, "metadata_model_error_response")


def test_not_ready_answers_are_error_objects(client, toy_predictor):
    toy_predictor.mark_not_ready()
    try:
        check_error(client.get("/v2/health/ready"), 503, "metadata_server_error_response")
        check_error(client.get("/v2/models/toy/ready"), 503, "metadata_model_error_response")
        body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
        check_error(client.post("/v2/models/toy/infer", json=body), 503, "inference_error_response")
        check(client.get("/v2/health/live"), 200, "ServerLiveResponse", KSERVE)  # live while not ready
    finally:
        toy_predictor.mark_ready()


# -- inference ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "request_body"),
    [
        (f"/v2/models/{MODEL}/infer", {"inputs": [X]}),
        (f"/v2/models/{MODEL}/infer", {"id": "42", "inputs": [X], "outputs": [{"name": "y"}]}),
        (f"/v2/models/{MODEL}/versions/{VERSION}/infer", {"inputs": [{**X, "data": [[1.0], [2.0], [5.0]]}]}),
        (
            f"/v2/models/{MODEL}/infer",
            {"inputs": [X], "parameters": {"p": 1}, "outputs": [{"name": "y", "parameters": {"binary_data": False}}]},
        ),
    ],
    ids=["plain", "id-and-outputs", "versioned-nested", "parameters"],
)
def test_infer_response(url, path, request_body):
    assert errors("inference_request", request_body) == []  # what we send is an OIP request
    body = check(post(url, path, request_body), 200, "inference_response")
    assert body["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [3, 1], "data": [2.5, 3.0, 4.5]}]
    assert body["id"] == request_body.get("id", body["id"]) and body["id"]  # always an id (the OIP text: "id": $string)
    assert (body["model_name"], body["model_version"]) == (MODEL, str(VERSION))


def test_binary_response_header(url):
    request_body = {"id": "7", "inputs": [X], "parameters": {"binary_data_output": True}}
    response = post(url, f"/v2/models/{MODEL}/infer", request_body)
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    split = int(response.headers[BINARY_HEADER])
    header = json.loads(response.content[:split])
    assert errors("inference_response", header, OIP_BINARY) == []
    assert errors("inference_response", header) != []  # no "data": only valid with the extension
    assert len(response.content) - split == header["outputs"][0]["parameters"]["binary_data_size"] == 12


@pytest.mark.parametrize(
    ("path", "request_body", "status"),
    [
        (f"/v2/models/{MODEL}/infer", {"inputs": [{**X, "datatype": "INT32"}]}, 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": [{**X, "datatype": "FLOAT"}]}, 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": [{**X, "shape": [2, 1]}]}, 400),  # 3 values, shape needs 2
        (f"/v2/models/{MODEL}/infer", {"inputs": [{**X, "shape": [3, 1, 2], "data": [1.0] * 6}]}, 400),  # [-1,1]
        (f"/v2/models/{MODEL}/infer", {"inputs": [{**X, "name": "z"}]}, 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": [{k: v for k, v in X.items() if k != "data"}]}, 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": [X], "outputs": [{"name": "nope"}]}, 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": "x"}, 400),
        (f"/v2/models/{MODEL}/infer", b"{not json", 400),
        (f"/v2/models/{MODEL}/infer", {"inputs": [X], "parameters": {"signature_name": "zzz"}}, 400),
        ("/v2/models/nope/infer", {"inputs": [X]}, 404),
        (f"/v2/models/{MODEL}/versions/9/infer", {"inputs": [X]}, 404),
    ],
)
def test_infer_errors(url, path, request_body, status):
    check_error(post(url, path, request_body), status, "inference_error_response")


def test_infer_error_for_a_content_type_that_is_not_json(url):
    response = post(url, f"/v2/models/{MODEL}/infer", b"x", headers={"Content-Type": "text/plain"})
    check_error(response, 415, "inference_error_response")


# -- BYTES outputs -----------------------------------------------------------------------------------------------------
def test_bytes_outputs(client):
    # UTF-8 strings are OIP tensor data. Output names ending in _bytes (TF Serving's convention) and bytes that are not
    # UTF-8 come as {"b64": ...} objects, which the OIP's tensor_data does not allow: a deliberate difference
    # (docs/v2-compatibility.md); asked for with binary_data, they travel within the extension.
    inputs = [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hi", "there"]}]
    params = {"signature_name": "text"}
    body = check(
        client.post(
            "/v2/models/toy/infer", json={"parameters": params, "inputs": inputs, "outputs": [{"name": "echo"}]}
        ),
        200,
        "inference_response",
    )
    assert body["outputs"][0]["data"] == ["hi", "there"]
    response = client.post(
        "/v2/models/toy/infer", json={"parameters": params, "inputs": inputs, "outputs": [{"name": "upper_bytes"}]}
    )
    assert response.status_code == 200
    assert response.get_json()["outputs"][0]["data"] == [{"b64": "SEk="}, {"b64": "VEhFUkU="}]
    assert errors("inference_response", response.get_json()) != []
    wanted = [{"name": "upper_bytes", "parameters": {"binary_data": True}}]
    response = client.post("/v2/models/toy/infer", json={"parameters": params, "inputs": inputs, "outputs": wanted})
    header = json.loads(response.get_data()[: int(response.headers[BINARY_HEADER])])
    assert errors("inference_response", header, OIP_BINARY) == []
