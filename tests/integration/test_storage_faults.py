"""Storage faults at boot, end to end: the real server (gunicorn) fetching from the emulator through a fault proxy."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import requests

from app.storage import cache as model_cache
from tests.faultproxy import MEDIA, FaultProxy, corrupt, status
from tests.integration.server import run_server

BOOT_TIMEOUT_SECONDS = 120
"""Cold start on a shared 2-core machine: TensorFlow's import dominates, the retries add about a second."""
MACHINE = {"temperature": 60.0, "vibration": 1.0, "pressure": 5.0, "rpm": 1500.0}


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_a_model_that_never_verifies_is_not_loaded_and_the_server_exits(gcs, maintenance_base_dir, tmp_path: Path):
    uri = gcs.upload_dir(maintenance_base_dir, "models/maintenance")
    with FaultProxy(gcs.emulator_url) as proxy:
        proxy.add(corrupt(), path=MEDIA)  # every download, every attempt
        env = {"MODEL_URI": uri, "STORAGE_EMULATOR_HOST": proxy.url, "DOWNLOAD_RETRIES": "2", "WORKERS": "1"}
        with run_server(env, tmp_path, wait_ready=False) as server:
            try:
                code = server.process.wait(timeout=BOOT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"still running after {BOOT_TIMEOUT_SECONDS}s:\n{server.log()[-4000:]}") from None
            log, stderr = server.log(), server.stderr()
        downloads = proxy.requests(MEDIA)

    assert code != 0, log
    failures = [e for e in json_lines(log) if e["severity"] == "ERROR" and "model load failed:" in e["message"]]
    assert len(failures) == 1, log
    message = failures[0]["message"]
    assert message.startswith(f"model load failed: giving up on download of {uri}/1/"), message
    assert " after 2 attempts: ChecksumMismatch: " in message and "crc32c mismatch" in message
    assert "Traceback" not in log and "Traceback" not in stderr
    assert "model fetched" not in log and " ready in " not in log
    # No object was tried more than DOWNLOAD_RETRIES times; the one that failed the fetch used them all.
    per_object = Counter(r.path.split("?")[0] for r in downloads)
    assert max(per_object.values()) == 2 and all(r.fault == "corrupt" for r in downloads)
    cache_dir = tmp_path / "cache"
    assert list(cache_dir.rglob(model_cache.MARKER)) == []
    assert list((cache_dir / model_cache.PARTIAL_DIR).iterdir()) == []


def test_server_rides_out_two_503s_and_serves(gcs, maintenance_base_dir, tmp_path: Path):
    uri = gcs.upload_dir(maintenance_base_dir, "models/maintenance")
    with FaultProxy(gcs.emulator_url) as proxy:
        proxy.add(status(503), path=MEDIA, times=2)
        env = {"MODEL_URI": uri, "STORAGE_EMULATOR_HOST": proxy.url, "DOWNLOAD_RETRIES": "3", "WORKERS": "1"}
        with run_server(env, tmp_path, timeout=BOOT_TIMEOUT_SECONDS) as server:
            r = requests.post(server.url + "/v1/models/maintenance:predict", json={"instances": [MACHINE]}, timeout=30)
            log = server.log()
        downloads = proxy.requests(MEDIA)

    assert r.status_code == 200, r.text
    assert 0.0 <= r.json()["predictions"][0]["failure_probability"] <= 1.0
    assert [d.status for d in downloads].count(503) == 2
    warnings = [e["message"] for e in json_lines(log) if e["severity"] == "WARNING"]
    assert sum("failed (attempt 1/3, retrying in" in w and "HTTP 503" in w for w in warnings) == 2, warnings
    assert not [e for e in json_lines(log) if e["severity"] == "ERROR"], log
