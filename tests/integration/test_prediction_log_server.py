"""Prediction and feedback entries from the production server (``python -m app``: gunicorn), read from its stdout
exactly as Cloud Run's log agent reads them: one JSON object per line."""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.server import run_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INSTANCES = [
    {"temperature": 95, "vibration": 9.5, "pressure": 2.0, "rpm": 4217.5},
    {"temperature": 60, "vibration": 1.0, "pressure": 5.0, "rpm": 1583.25},
]


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def run(maintenance_base_dir, tmp_path_factory):
    """Serve the maintenance model with every prediction logged and ``rpm`` redacted; send one request of each
    kind; stop the server; return (its stdout, the responses)."""
    env = {
        "MODEL_URI": str(maintenance_base_dir),
        "MODEL_NAME": "maintenance",
        "WORKERS": "1",
        "GOOGLE_CLOUD_PROJECT": "test-proj",
        "ACCESS_LOG_SAMPLE": "1",
        "PREDICTION_LOG_SAMPLE": "1",
        "PREDICTION_LOG_REDACT": "rpm",
    }
    with run_server(env, tmp_path_factory.mktemp("prediction-log")) as server:
        traceparent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        url = server.url
        responses = {
            "predict": requests.post(
                f"{url}/v1/models/maintenance:predict", json={"instances": INSTANCES}, headers=traceparent, timeout=30
            ),
            "infer": requests.post(
                f"{url}/v2/models/maintenance/infer",
                json={
                    "inputs": [
                        {"name": name, "shape": [2], "datatype": "FP32", "data": [row[name] for row in INSTANCES]}
                        for name in INSTANCES[0]
                    ]
                },
                timeout=30,
            ),
        }
        request_id = responses["predict"].headers["X-Request-Id"]
        responses["feedback"] = requests.post(
            f"{url}/v1/models/maintenance:feedback",
            json={"request_id": request_id, "labels": ["HIGH", "LOW"]},
            timeout=30,
        )
        responses["bad feedback"] = requests.post(
            f"{url}/v2/models/maintenance/feedback", json={"request_id": request_id, "labels": "HIGH"}, timeout=30
        )
        code, _ = server.stop()
        assert code == 0
        return server.log(), responses


def test_one_prediction_entry_per_request_on_stdout(run):
    log, responses = run
    assert responses["predict"].status_code == responses["infer"].status_code == 200
    entries = [line for line in json_lines(log) if line.get("entry_type") == "prediction"]
    predict, infer = entries
    assert (predict["protocol"], infer["protocol"]) == ("tfserving", "v2")
    assert predict["request_id"] == responses["predict"].headers["X-Request-Id"]
    assert infer["request_id"] == responses["infer"].headers["X-Request-Id"] == responses["infer"].json()["id"]
    assert predict["logging.googleapis.com/trace"] == f"projects/test-proj/traces/{TRACE_ID}"
    assert predict["logging.googleapis.com/labels"]["entry_type"] == "prediction"
    for entry in entries:
        assert (entry["model_name"], entry["model_version"], entry["signature"], entry["rows"]) == (
            "maintenance",
            "1",
            "serving_default",
            2,
        )
        assert json.loads(entry["inputs"]) == {
            "temperature": [95, 60],
            "vibration": [9.5, 1.0],
            "pressure": [2.0, 5.0],
            "rpm": "[REDACTED]",
        }
    predictions = responses["predict"].json()["predictions"]
    assert json.loads(predict["outputs"]) == {name: [row[name] for row in predictions] for name in predictions[0]}
    assert json.loads(infer["outputs"]) == {o["name"]: o["data"] for o in responses["infer"].json()["outputs"]}


def test_feedback_entry_and_nothing_redacted_anywhere(run):
    log, responses = run
    assert (responses["feedback"].status_code, responses["feedback"].json()) == (200, {})
    assert responses["bad feedback"].status_code == 400
    (feedback,) = [line for line in json_lines(log) if line.get("entry_type") == "feedback"]
    assert feedback["request_id"] == responses["predict"].headers["X-Request-Id"]
    assert (feedback["model_name"], json.loads(feedback["labels"])) == ("maintenance", ["HIGH", "LOW"])
    assert "4217.5" not in log and "1583.25" not in log  # the redacted rpm values, in no line of stdout or access log
