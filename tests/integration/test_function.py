"""The documented functions-framework command serves the same API as the container."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.integration.server import ROOT, free_port, server_env


def test_functions_framework_serves_the_predict_api(toy_model_dir, tmp_path):
    port = free_port()
    binary = Path(sys.executable).parent / "functions-framework"
    command = [str(binary), "--target", "predict", "--source", "app/function.py", "--port", str(port)]
    log = tmp_path / "ff.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env({"MODEL_URI": str(toy_model_dir), "MODEL_NAME": "toy"}, tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                requests.get(url + "/healthz", timeout=60)
                break
            time.sleep(0.3)
        r = requests.post(url + "/predict", json={"instances": [[1, 2, 3]]}, timeout=60)
        assert r.status_code == 200, log.read_text()[-3000:]
        assert r.json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}
        assert r.headers["X-Model-Version"] == "7"
        body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 1, 1]}]}
        assert requests.post(url + "/v2/models/toy/infer", json=body, timeout=30).json()["outputs"][0]["data"] == [3.0]
        bad = requests.post(url + "/predict", json={"inputs": 5.0}, timeout=30)  # the graph refuses a scalar
        assert bad.status_code == 400 and "expects x [-1,3]" in bad.json()["error"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
