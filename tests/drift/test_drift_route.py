"""``GET /drift`` and the drift gauges through the Flask app, fed by real predictions of the maintenance model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.batching import BatchingSettings
from app.drift import DriftMonitor, DriftSettings
from app.model import Model
from app.predictor import Predictor
from app.settings import Settings
from model_export import maintenance

FEATURES = list(maintenance.FEATURES)
UNSHIFTED_SEED = 2


@pytest.fixture
def maintenance_app(maintenance_base_dir: Path) -> Flask:
    path = maintenance_base_dir / "1"
    predictor = Predictor(Model.load(path), "maintenance", 1, str(path))
    predictor.enable_batching(BatchingSettings(max_batch_size=32))
    predictor.drift = DriftMonitor.from_saved_model(path, DriftSettings(eval_every=200))
    predictor.mark_ready()
    return create_app(Settings.from_env({"MODEL_URI": str(maintenance_base_dir)}), predictor)


def _predict_readings(client, temperature_shift: float, rows: int = 1000, batch: int = 100) -> None:
    x, _ = maintenance.generate(rows, seed=UNSHIFTED_SEED)
    x[:, 0] += temperature_shift
    for start in range(0, rows, batch):
        instances = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x[start : start + batch]]
        response = client.post("/v1/models/maintenance:predict", json={"instances": instances})
        assert response.status_code == 200, response.get_data(as_text=True)


def test_before_any_traffic_every_feature_reports_null(maintenance_app: Flask) -> None:
    response = maintenance_app.test_client().get("/drift")

    assert response.status_code == 200 and response.mimetype == "application/json"
    empty = {"statistic": None, "p_value": None, "drifted": False, "samples": 0, "baseline_samples": 800}
    assert response.get_json() == {
        "enabled": True,
        "threshold": 0.05,
        "window": 1000,
        "min_samples": 100,
        "features": {name: empty for name in FEATURES},
    }


def test_shifted_predictions_show_up_in_drift_and_metrics(maintenance_app: Flask) -> None:
    client = maintenance_app.test_client()

    _predict_readings(client, temperature_shift=0.0, rows=100)
    assert client.get("/drift").get_json()["features"]["temperature"]["samples"] == 100
    _predict_readings(client, temperature_shift=15.0)
    body = client.get("/drift").get_json()
    metrics = client.get("/metrics").get_data(as_text=True)

    features = body["features"]
    assert features["temperature"]["drifted"] and features["temperature"]["p_value"] < 1e-6
    assert features["temperature"]["samples"] == 1000
    assert not any(features[name]["drifted"] for name in ("vibration", "pressure", "rpm"))
    assert 'model_server_drift_detected{feature="temperature"} 1.0' in metrics
    assert 'model_server_drift_detected{feature="rpm"} 0.0' in metrics
    assert 'model_server_drift_p_value{feature="temperature"}' in metrics


def test_a_model_without_baseline_answers_disabled(client) -> None:
    response = client.application.test_client().get("/drift")

    assert response.status_code == 200
    assert json.loads(response.data) == {
        "enabled": False,
        "threshold": 0.05,
        "window": 1000,
        "min_samples": 100,
        "features": {},
    }


def test_the_server_attaches_a_monitor_that_did_not_see_the_warm_up(maintenance_base_dir: Path) -> None:
    app = create_app(Settings.from_env({"MODEL_URI": str(maintenance_base_dir), "LOG_FORMAT": "text"}))

    monitor = app.extensions["predictor"].drift
    assert monitor is not None and monitor.enabled
    report = app.test_client().get("/drift").get_json()
    assert {name: f["samples"] for name, f in report["features"].items()} == dict.fromkeys(FEATURES, 0)
