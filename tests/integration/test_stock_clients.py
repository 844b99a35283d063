"""Existing clients work unchanged: a TF Serving REST client and Triton's V2 HTTP client, on one server."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from tests.integration.server import run_server


@pytest.fixture(scope="module")
def server(mnist_base_dir, tmp_path_factory):
    with run_server({"MODEL_URI": str(mnist_base_dir), "MODEL_NAME": "mnist"}, tmp_path_factory.mktemp("clients")) as s:
        yield s


@pytest.fixture(scope="module")
def images():
    from model_export.mnist import load_data

    return load_data()[2][:4]


def test_tf_serving_rest_client(server, images):
    """As TF Serving's docs and most client code do it: json.dumps into data=, no Content-Type header."""
    host = server.url.removeprefix("http://")
    meta = requests.get(f"http://{host}/v1/models/mnist/metadata", timeout=10).json()
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["image"]["dtype"] == "DT_FLOAT"
    data = json.dumps({"signature_name": "serving_default", "instances": images.tolist()})
    r = requests.post(f"http://{host}/v1/models/mnist:predict", data=data, timeout=30)
    assert r.status_code == 200, r.text
    predictions = json.loads(r.text)["predictions"]
    assert [p["digit"] for p in predictions] == [int(np.argmax(p["probabilities"])) for p in predictions]


def test_triton_http_client_binary_and_json(server, images):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
        metadata = client.get_model_metadata("mnist")
        assert metadata["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
        results = {}
        for binary in (True, False):  # True is the client's default
            tensor = httpclient.InferInput("image", list(images.shape), "FP32")
            tensor.set_data_from_numpy(images, binary_data=binary)
            outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("probabilities", "digit")]
            result = client.infer("mnist", [tensor], outputs=outputs, request_id="abc")
            results[binary] = (result.as_numpy("probabilities"), result.as_numpy("digit"))
            assert result.get_response()["id"] == "abc"
        # All outputs in binary when none are named (the client sets binary_data_output).
        tensor = httpclient.InferInput("image", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images)
        default = client.infer("mnist", [tensor])
    finally:
        client.close()
    probabilities, digits = results[True]
    assert probabilities.shape == (4, 10) and digits.dtype == np.int64
    np.testing.assert_allclose(probabilities, results[False][0], rtol=1e-6)
    np.testing.assert_array_equal(digits, np.argmax(probabilities, axis=1))
    np.testing.assert_array_equal(default.as_numpy("digit"), digits)
