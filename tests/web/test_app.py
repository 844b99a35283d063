"""App-level behaviour: health routes, Vertex AI routes, OpenAPI document, the 500 path, access logs."""

import logging

import numpy as np
import orjson
import pytest

from app import create_app
from app.predictor import Predictor
from app.settings import Settings
from tests.unit.signatures import ALL


def test_health_routes(client):
    assert client.get("/healthz").get_json() == {"status": "alive"}
    assert client.get("/readyz").get_json() == {"status": "ready", "model_name": "toy", "model_version": "7"}


def test_vertex_ai_routes(toy_model_dir, toy_predictor):
    settings = Settings.from_env(
        {
            "MODEL_URI": str(toy_model_dir),
            "AIP_PREDICT_ROUTE": "/vertex/predict",
            "AIP_HEALTH_ROUTE": "/vertex/health",
        }
    )
    client = create_app(settings, toy_predictor).test_client()
    r = client.post("/vertex/predict", json={"instances": [[1, 2, 3]], "parameters": {"unused": True}})
    assert r.status_code == 200 and r.get_json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}
    assert client.get("/vertex/health").status_code == 200
    assert client.post("/predict", json={"instances": [[1, 2, 3]]}).status_code == 200


def test_openapi_schemas_come_from_the_signatures(client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.0.3"
    assert {
        "/v1/models/toy:predict",
        "/v2/models/toy/infer",
        "/v1/models/toy/versions/7/metadata",
        "/predict",
        "/readyz",
    } <= set(doc["paths"])
    variants = doc["components"]["schemas"]["PredictRequest"]["anyOf"]
    default_rows = next(v for v in variants if v["required"] == ["instances"])
    instance = default_rows["properties"]["instances"]["items"]["anyOf"][0]
    assert instance == {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
    multi_cols = next(
        v for v in variants if v["properties"]["signature_name"]["enum"] == ["multi"] and "inputs" in v["required"]
    )
    assert multi_cols["properties"]["inputs"]["properties"]["a"]["items"]["items"]["type"] == "integer"
    v2 = doc["components"]["schemas"]["InferRequest"]["properties"]["inputs"]["items"]["anyOf"]
    assert v2[0]["properties"]["datatype"]["enum"] == ["FP32"]


class ExplodingModel:
    signatures = ALL
    signature_defs: dict = {}

    def run(self, signature_name, inputs):
        raise RuntimeError("secret internal detail /srv/weights")


def test_unexpected_errors_are_500_without_internals(caplog):
    predictor = Predictor(ExplodingModel(), "boom", 1)
    predictor.mark_ready()
    client = create_app(Settings.from_env({"MODEL_URI": "/x/boom"}), predictor).test_client()
    with caplog.at_level(logging.ERROR):
        r = client.post("/predict", json={"instances": [[[0, 0], [0, 0]]]})
    assert r.status_code == 500 and r.get_json() == {"error": "internal server error"}
    assert "secret" not in r.get_data(as_text=True)
    assert any(rec.exc_info and "secret internal detail" in str(rec.exc_info[1]) for rec in caplog.records)


def access_lines(client, caplog, requests=1, status_path="/v1/models/toy:predict"):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app.access"):
        for _ in range(requests):
            client.post(
                status_path,
                data=orjson.dumps({"instances": [[1, 2, 3]]}),
                content_type="application/json",
                headers={"X-Request-Id": "r-1"},
            )
    return [r for r in caplog.records if r.name == "app.access"]


def test_one_access_line_per_request_when_every_request_is_sampled(toy_model_dir, toy_predictor, caplog):
    settings = Settings.from_env({"MODEL_URI": str(toy_model_dir), "ACCESS_LOG_SAMPLE": "1"})
    lines = access_lines(create_app(settings, toy_predictor).test_client(), caplog)
    assert len(lines) == 1
    fields = lines[0].json_fields
    assert fields["request_id"] == "r-1" and fields["status"] == 200 and fields["model_version"] == "7"
    assert fields["latency_ms"] > 0 and lines[0].http_request["status"] == 200


def test_successes_are_sampled_and_errors_always_logged(toy_model_dir, toy_predictor, caplog):
    settings = Settings.from_env({"MODEL_URI": str(toy_model_dir), "ACCESS_LOG_SAMPLE": "0.1"})
    client = create_app(settings, toy_predictor).test_client()
    sampled = len(access_lines(client, caplog, requests=2000))
    assert 120 < sampled < 280, f"about 10 % of 2000 successes, got {sampled}"  # 6 sigma either side
    errors = access_lines(client, caplog, requests=20, status_path="/v1/models/nope:predict")
    assert len(errors) == 20 and {r.json_fields["status"] for r in errors} == {404}
    off = Settings.from_env({"MODEL_URI": str(toy_model_dir), "ACCESS_LOG_SAMPLE": "0"})
    assert access_lines(create_app(off, toy_predictor).test_client(), caplog, requests=50) == []


@pytest.mark.parametrize("route", ["/healthz", "/readyz", "/v2/health/live"])
def test_health_routes_reject_post(client, route):
    r = client.post(route)
    assert r.status_code == 405 and r.get_json() == {"error": "method not allowed for this route"}
    assert np.all([h in r.headers for h in ("X-Request-Id", "X-Model-Name", "X-Model-Version")])
