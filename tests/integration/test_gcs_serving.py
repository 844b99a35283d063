"""Serving models from GCS (the emulator, through the real google-cloud-storage client) with real gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys

import requests

from tests.integration.server import ROOT, free_port, run_server

MACHINES = [
    {"temperature": 95.0, "vibration": 9.5, "pressure": 2.0, "rpm": 4200.0},  # hot, shaking, off-pressure
    {"temperature": 60.0, "vibration": 1.0, "pressure": 5.0, "rpm": 1500.0},  # nominal
]


def test_maintenance_model_from_gcs_answers_named_features(gcs, maintenance_base_dir, tmp_path):
    uri = gcs.upload_dir(maintenance_base_dir, "models/maintenance")
    with run_server({"MODEL_URI": uri, "WORKERS": "2"}, tmp_path) as server:
        r = requests.post(server.url + "/v1/models/maintenance:predict", json={"instances": MACHINES}, timeout=30)
        assert r.status_code == 200, r.text
        predictions = r.json()["predictions"]
        assert len(predictions) == 2
        for p in predictions:
            assert set(p) == {"failure_probability", "risk_level"}
            assert 0.0 <= p["failure_probability"] <= 1.0
            expected = (
                "LOW" if p["failure_probability"] < 0.3 else "MEDIUM" if p["failure_probability"] < 0.7 else "HIGH"
            )
            assert p["risk_level"] == expected
        assert r.headers["X-Model-Version"] == "1"
        status = requests.get(server.url + "/v1/models/maintenance", timeout=5).json()
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        # Both workers fetched through one cache entry: downloaded once, reused once.
        fetches = [line for line in server.log().splitlines() if "model fetched" in line]
        assert len(fetches) == 2
        assert sum("served_from=download" in f for f in fetches) == 1
        assert sum("served_from=cache" in f for f in fetches) == 1
        assert len(list((tmp_path / "cache").glob("*/saved_model.pb"))) == 1


def test_missing_gcs_model_exits_non_zero_with_a_clear_line(gcs, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "MODEL_URI": gcs.uri("models/absent"),
            "PORT": str(free_port()),
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        },
    )
    assert result.returncode != 0
    assert f"model load failed: no SavedModel at {gcs.uri('models/absent')}" in result.stdout


def test_model_export_uploads_a_version_to_gcs(gcs, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "model_export",
            "maintenance",
            "--output",
            str(tmp_path / "out"),
            "--version",
            "3",
            "--epochs",
            "1",
            "--upload",
            gcs.uri("exported/maintenance"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = {b.name for b in gcs.client.list_blobs(gcs.bucket_name, prefix="exported/maintenance/")}
    assert "exported/maintenance/3/saved_model.pb" in names
    assert any(n.startswith("exported/maintenance/3/variables/") for n in names)
