"""TF Serving's ``:classify`` and ``:regress`` REST APIs over HTTP, against its own half_plus_two model.

Sources (tensorflow/serving): ``model_servers/tensorflow_model_server_test.py`` (testClassifyREST,
testRegressREST), ``model_servers/http_rest_api_handler_test.cc`` (HttpRestApiHandlerTest.Regress, .Classify),
``g3doc/api_rest.md`` (the Classify and Regress API section, its b64 example and its regress example),
``util/json_tensor_test.cc`` (ClassifyRegressRequestTest.*: the request cases, here end to end) and the code they
test (``util/json_tensor.cc``, ``servables/tensorflow/classifier.cc``, ``regressor.cc``, ``util.cc``). The server
is a real gunicorn serving half_plus_two as version 123 (``tests/conformance/conftest.py``); y = 0.5x + 2.
"""

from __future__ import annotations

import json

import pytest
import requests

CLASSIFY = "/v1/models/half_plus_two:classify"
REGRESS = "/v1/models/half_plus_two:regress"


def post(server, path: str, body) -> requests.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return requests.post(server.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=30)


def results(response: requests.Response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["results"]
    return body["results"]


def error(response: requests.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]  # the one error shape: {"error": "<message>"}
    return body["error"]


# -- tensorflow_model_server_test.py and http_rest_api_handler_test.cc ---------------------------------------------
def test_classify_rest(half_plus_two_server):  # TensorflowModelServerTest.testClassifyREST
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert results(post(half_plus_two_server, CLASSIFY, body)) == [[["", 3.0]]]


def test_regress_rest(half_plus_two_server):  # TensorflowModelServerTest.testRegressREST
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    assert results(post(half_plus_two_server, REGRESS, body)) == [3.0]


def test_handler_regress(half_plus_two_server):  # HttpRestApiHandlerTest.Regress (latest, then version 123)
    body = '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }'
    assert results(post(half_plus_two_server, REGRESS, body)) == [42]
    assert results(post(half_plus_two_server, "/v1/models/half_plus_two/versions/123:regress", body)) == [42]


def test_handler_classify(half_plus_two_server):  # HttpRestApiHandlerTest.Classify
    body = '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }'
    assert results(post(half_plus_two_server, CLASSIFY, body)) == [[["", 12]]]
    body = '{"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] }'
    assert results(post(half_plus_two_server, "/v1/models/half_plus_two/versions/123:classify", body)) == [[["", 7]]]


def test_unknown_version(half_plus_two_server):
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    error(post(half_plus_two_server, "/v1/models/half_plus_two/versions/124:classify", body), 404)


# -- api_rest.md: Classify and Regress API --------------------------------------------------------------------------
def test_api_rest_regress_example(half_plus_three_server):
    # api_rest.md, verbatim: on half_plus_three, whose regression signature is named "tensorflow/serving/regress"
    # (as in TF Serving's testdata saved_model.pb).
    body = '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}'
    response = post(half_plus_three_server, "/v1/models/saved_model_half_plus_three:regress", body)
    assert response.status_code == 200 and response.json() == {"results": [3.5, 4.0]}


def test_signature_of_another_model(half_plus_two_server):
    body = '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}'
    message = error(post(half_plus_two_server, REGRESS, body))
    assert message == "No signature was found with the name: tensorflow/serving/regress"


def test_labels(half_plus_two_server):  # HttpRestApiHandlerTest.Classify/Regress, their /labels/ requests
    body = '{"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] }'
    assert results(post(half_plus_two_server, "/v1/models/half_plus_two/labels/stable:classify", body)) == [[["", 7]]]
    body = '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }'
    assert results(post(half_plus_two_server, "/v1/models/half_plus_two/labels/stable:regress", body)) == [42]
    response = post(half_plus_two_server, "/v1/models/half_plus_two/labels/beta:regress", body)
    assert response.status_code == 400 and response.json() == {"error": "Unrecognized servable version label: beta"}


def test_every_regress_signature(half_plus_two_server):
    examples = [{"x": 1.0, "x2": 4.0}, {"x": 2.0}]
    body = {"signature_name": "regress_x_to_y", "examples": examples}
    assert results(post(half_plus_two_server, REGRESS, body)) == [2.5, 3.0]
    body = {"signature_name": "regress_x_to_y2", "examples": examples}  # y2 = 0.5x + 3
    assert results(post(half_plus_two_server, REGRESS, body)) == [3.5, 4.0]
    # regress_x2_to_y3's input is the float tensor x2, not serialized examples: TensorFlow refuses the feed.
    body = {"signature_name": "regress_x2_to_y3", "examples": examples}
    assert error(post(half_plus_two_server, REGRESS, body)) == "Expects arg[0] to be float but string is provided"
    body = {"signature_name": "classify_x2_to_y3", "examples": examples}  # the same for classification
    assert error(post(half_plus_two_server, CLASSIFY, body)) == "Expects arg[0] to be float but string is provided"


def test_api_rest_b64_example(half_plus_two_server):
    # api_rest.md's "Encoding binary values" classify request, plus the feature half_plus_two parses: the b64
    # images and string captions become bytes features that the model's parser leaves alone.
    body = {
        "signature_name": "classify_x_to_y",
        "examples": [
            {"image": {"b64": "aW1hZ2UgYnl0ZXM="}, "caption": "seaside", "x": 2.0},
            {"image": {"b64": "YXdlc29tZSBpbWFnZSBieXRlcw=="}, "caption": "mountains", "x": 4.0},
        ],
    }
    assert results(post(half_plus_two_server, CLASSIFY, body)) == [[["", 3.0]], [["", 4.0]]]


def test_b64_feature_where_the_model_parses_floats(half_plus_two_server):
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": {"b64": "AAAAQA=="}}]}
    message = error(post(half_plus_two_server, REGRESS, body))
    assert "Data types don't match. Data type: string but expected type: float" in message
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0, "image": {"b64": "not base64!"}}]}
    assert error(post(half_plus_two_server, REGRESS, body)) == "Unable to base64 decode"


def test_context_is_merged_into_each_example(half_plus_two_server):
    # api_rest.md: "Common context shared by all examples"; util.cc puts it into every serialized example.
    body = {"signature_name": "regress_x_to_y", "context": {"x": 2.0, "tag": "ctx"}, "examples": [{}, {"tag": "e"}]}
    assert results(post(half_plus_two_server, REGRESS, body)) == [3.0, 3.0]
    # The page says context features "MUST NOT appear in examples"; TF Serving does not check, and the example's
    # own value wins (it comes last in the serialized bytes).
    body = {"signature_name": "classify_x_to_y", "context": {"x": 2.0}, "examples": [{"x": 10.0}, {}]}
    assert results(post(half_plus_two_server, CLASSIFY, body)) == [[["", 7.0]], [["", 3.0]]]


def test_api_rest_json_conformance_non_finite(half_plus_two_server):
    # api_rest.md "JSON conformance": NaN and Infinity are accepted in requests and written in responses.
    body = '{"signature_name": "regress_x_to_y", "examples": [{"x": NaN}, {"x": Infinity}, {"x": 2.0}]}'
    response = post(half_plus_two_server, REGRESS, body)
    assert response.status_code == 200 and response.text.replace(" ", "") == '{"results":[NaN,Infinity,3.0]}'


# -- signatures that are not classification or regression ---------------------------------------------------------
def test_predict_signature(half_plus_two_server):
    # TF Serving's default (--enable_signature_method_name_check=false) judges the signature's structure:
    # serving_default's input is "x", not "inputs". A request without signature_name uses serving_default.
    for body in ({"signature_name": "serving_default", "examples": [{"x": 2.0}]}, {"examples": [{"x": 2.0}]}):
        message = error(post(half_plus_two_server, CLASSIFY, body))
        assert message.startswith('No classification inputs found in SignatureDef: inputs {\n  key: "x"\n')
        assert message.endswith('method_name: "tensorflow/serving/predict"\n')
        message = error(post(half_plus_two_server, REGRESS, body))
        assert message.startswith('No regression inputs found in SignatureDef: inputs {\n  key: "x"\n')


def test_classify_on_a_regression_signature_and_back(half_plus_two_server):
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    assert error(post(half_plus_two_server, CLASSIFY, body)).startswith(
        'Expected classification signature outputs to contain at least one of "classes" or "scores". '
    )
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert error(post(half_plus_two_server, REGRESS, body)).startswith("No regression outputs found in SignatureDef: ")


def test_unknown_signature(half_plus_two_server):
    body = {"signature_name": "nope", "examples": [{"x": 2.0}]}
    assert error(post(half_plus_two_server, CLASSIFY, body)) == "No signature was found with the name: nope"


# -- malformed requests (json_tensor_test.cc ClassifyRegressRequestTest.JsonErrors and json_tensor.cc) ----------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"signature_name": ["hello"], "examples": [{"x": 2.0}]}', "'signature_name' key must be a string value."),
        ('{"context": [{"x": 2.0}]}', "Example must be JSON object but got JSON Array"),
        ('{"examples": {"x": 2.0}}', "Expecting 'examples' value to be an list/array"),
        ('{"examples": [[{"x": 2.0}]]}', "Example must be JSON object but got JSON Array"),
        ('{"examples": [{"x": [2.0, null]}]}', "Feature: x has element with unexpected JSON type: Null"),
        ('{"examples": [{"x": [10, 10.0]}]}', "Unexpected element type in feature: x expecting type: int64"),
        ('{"examples": [{"x": [10, {"test": 10}]}]}', "Feature: x has element with unexpected JSON type: Object"),
        ('{"examples": [{"x": [[10], 20]}]}', "Feature: x has element with unexpected JSON type: Array"),
        ('{"examples": [{"x": [20, 18446744073709551603]}]}', "Only int64_t is supported."),
        ('{"examples": []}', "'examples' value is an empty array"),
        ('{"signature_name": "classify_x_to_y"}', "key 'examples' is expected and was not found"),
    ],
)
def test_malformed_requests(half_plus_two_server, body, message):
    for path in (CLASSIFY, REGRESS):
        assert message in error(post(half_plus_two_server, path, body))


def test_malformed_json(half_plus_two_server):
    assert "not valid JSON" in error(post(half_plus_two_server, CLASSIFY, '{"examples": [{"x": 2.0}'))
    assert error(post(half_plus_two_server, REGRESS, "[1, 2]")) == "request body must be a JSON object with 'examples'"
    assert "empty" in error(post(half_plus_two_server, REGRESS, ""))


def test_wrong_feature_types_for_the_model(half_plus_two_server):
    # A whole number is an int64 feature by TF Serving's rules, and half_plus_two parses x as a float: write 2.0.
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}
    assert "Data type: int64 but expected type: float" in error(post(half_plus_two_server, REGRESS, body))
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": "2.0"}]}
    assert "Data type: string but expected type: float" in error(post(half_plus_two_server, REGRESS, body))
    body = {"signature_name": "classify_x_to_y", "examples": [{"y": 2.0}]}
    assert "Feature: x (data type: float) is required" in error(post(half_plus_two_server, CLASSIFY, body))


def test_unknown_top_level_field(half_plus_two_server):
    # As TF Serving: keys other than signature_name, context and examples are ignored.
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}], "instances": [1.0]}
    response = post(half_plus_two_server, REGRESS, body)
    assert response.status_code == 200 and response.json() == {"results": [3.0]}
