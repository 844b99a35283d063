"""The production server for real: ``python -m app`` (gunicorn) serving exported demo models."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from tests.integration.server import ROOT, free_port, run_server, server_env


def digits(n: int) -> np.ndarray:
    """``n`` real held-out digit images, 28x28x1."""
    from model_export.mnist import load_data

    return load_data()[2][:n]


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def mnist_server(mnist_base_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mnist-server")
    env = {
        "MODEL_URI": str(mnist_base_dir),
        "MODEL_NAME": "mnist",
        "WORKERS": "2",
        "THREADS": "4",
        "GOOGLE_CLOUD_PROJECT": "test-proj",
        "ACCESS_LOG_SAMPLE": "1",  # the log checks below read every access line
    }
    with run_server(env, tmp) as server:
        yield server


def test_serves_mnist_predictions_in_tf_serving_format(mnist_server):
    images = digits(3)
    r = requests.post(mnist_server.url + "/predict", json={"instances": images.tolist()}, timeout=30)
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 3
    for p in predictions:
        assert set(p) == {"probabilities", "digit"}
        assert len(p["probabilities"]) == 10 and abs(sum(p["probabilities"]) - 1) < 1e-4
        assert p["digit"] == int(np.argmax(p["probabilities"]))
    assert r.headers["X-Model-Name"] == "mnist" and r.headers["X-Model-Version"] == "1"
    assert len(r.headers["X-Request-Id"]) == 32


def test_both_workers_answer_and_logs_are_structured(mnist_server):
    trace = "105445aa7843bc8bf206b12000100000"
    for _ in range(20):
        requests.get(mnist_server.url + "/readyz", timeout=5)
    requests.post(
        mnist_server.url + "/v1/models/mnist:predict",
        json={"instances": digits(1).tolist()},
        headers={"X-Cloud-Trace-Context": f"{trace}/1;o=1", "X-Request-Id": "trace-test"},
        timeout=30,
    )
    requests.get(
        mnist_server.url + "/v2/health/ready",
        headers={"traceparent": f"00-{'a' * 32}-{'b' * 16}-01"},
        timeout=5,
    )
    time.sleep(0.5)
    entries = json_lines(mnist_server.log())
    stdout_lines = [line for line in mnist_server.log().splitlines() if line.strip()]
    assert len(entries) == len(stdout_lines), "every stdout line is one JSON object"
    assert all("severity" in e and "message" in e for e in entries)
    startups = [e for e in entries if "phases_s" in e]
    assert len(startups) == 2, "one startup line per worker"
    assert set(startups[0]["phases_s"]) == {"import_s", "download_s", "load_s", "warmup_s", "total_s"}
    access = next(e for e in entries if e.get("request_id") == "trace-test")
    assert access["logging.googleapis.com/trace"] == f"projects/test-proj/traces/{trace}"
    assert access["status"] == 200 and access["model_version"] == "1"
    assert access["httpRequest"]["requestMethod"] == "POST" and access["httpRequest"]["status"] == 200
    w3c = next(e for e in entries if e.get("message", "").startswith("GET /v2/health/ready"))
    assert w3c["logging.googleapis.com/trace"] == f"projects/test-proj/traces/{'a' * 32}"


def test_sigterm_finishes_in_flight_requests_and_exits_zero(toy_model_dir, tmp_path):
    # Batching off: six independent model calls keep the server busy long enough to be interrupted.
    with run_server({"MODEL_URI": str(toy_model_dir), "THREADS": "8", "MAX_BATCH_SIZE": "0"}, tmp_path) as server:
        steps = 250_000  # about a second per request alone, ~4 s for all six on 2 cores
        body = {"signature_name": "spin", "instances": [steps]}
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(requests.post, server.url + "/predict", json=body, timeout=30) for _ in range(6)]
            # Give every request time to be accepted: a connection still in the kernel's backlog when the
            # listener closes is refused, which is right (Cloud Run routes nothing new after SIGTERM).
            time.sleep(1.0)
            in_flight = sum(not f.done() for f in futures)
            assert in_flight >= 3, "most requests should still be computing when SIGTERM arrives"
            code, seconds = server.stop()
            responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [200] * 6
        assert [r.json() for r in responses] == [{"predictions": [steps]}] * 6
        assert code == 0 and seconds < 10
        assert "Shutting down: Master" in server.log()


def test_highest_version_is_served(mnist_base_dir, tmp_path):
    base = tmp_path / "models" / "digits"
    shutil.copytree(mnist_base_dir / "1", base / "1")
    shutil.copytree(mnist_base_dir / "1", base / "12")
    (base / "notes").mkdir()
    with run_server({"MODEL_URI": str(base)}, tmp_path) as server:
        status = requests.get(server.url + "/v1/models/digits", timeout=5).json()
        assert status["model_version_status"][0]["version"] == "12"
        assert requests.get(server.url + "/v2/models/digits/versions/12/ready", timeout=5).status_code == 200


def run_to_exit(env: dict[str, str], tmp_path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=server_env(env, tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("workers", ["1", "4"])
def test_missing_model_exits_non_zero_with_one_clear_line(tmp_path, workers):
    # With several workers failing at once, a second "failed to boot" exit reaped while gunicorn's master halted
    # escaped as a traceback (2 runs in 5 with 4 workers): only the first failing worker may use that exit code.
    env = {"MODEL_URI": str(tmp_path / "nothing-here"), "PORT": str(free_port()), "WORKERS": workers}
    result = run_to_exit(env, tmp_path)
    assert result.returncode != 0
    errors = [e for e in json_lines(result.stdout) if e["severity"] == "ERROR"]
    assert len(errors) == 1, "one ERROR line: the cause (gunicorn's echoes of it are warnings)"
    assert errors[0]["message"].startswith(f"model load failed: no SavedModel at {tmp_path / 'nothing-here'}")
    assert "Traceback" not in result.stdout + result.stderr


def test_invalid_saved_model_exits_non_zero(tmp_path):
    bad = tmp_path / "broken" / "1"
    bad.mkdir(parents=True)
    (bad / "saved_model.pb").write_bytes(b"not a protobuf")
    result = run_to_exit({"MODEL_URI": str(bad.parent), "PORT": str(free_port())}, tmp_path)
    assert result.returncode != 0
    errors = [e["message"] for e in json_lines(result.stdout) if e["severity"] == "ERROR"]
    assert any("model load failed" in m and "not a loadable SavedModel" in m for m in errors), result.stdout[-2000:]


def test_bad_setting_exits_2_naming_the_variable(tmp_path):
    result = run_to_exit({"PORT": "eighty"}, tmp_path, timeout=60)
    assert result.returncode == 2
    (entry,) = json_lines(result.stdout)
    assert entry["severity"] == "ERROR" and entry["message"] == "invalid configuration: PORT='eighty' is not an integer"


def test_a_port_already_listened_on_is_an_error_not_a_shared_port(tmp_path):
    # Workers listen with SO_REUSEPORT; without this check a second server would silently share the port.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a running server's workers do
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_to_exit({"HOST": "127.0.0.1", "PORT": str(port)}, tmp_path, timeout=60)
    assert result.returncode == 1
    (entry,) = json_lines(result.stdout)
    assert entry["severity"] == "ERROR" and entry["message"].startswith(f"cannot listen on 127.0.0.1:{port}: ")


def test_require_gpu_without_a_gpu_exits_in_seconds_naming_the_variable(tmp_path, toy_model_dir):
    """On this CPU-only machine (and the CPU image), REQUIRE_GPU=true refuses to start: one ERROR line that names
    the variable and what TensorFlow saw, before any model download; unset, the same server starts (other tests)."""
    env = {"MODEL_URI": str(toy_model_dir), "PORT": str(free_port()), "WORKERS": "1", "REQUIRE_GPU": "true"}
    started = time.monotonic()
    result = run_to_exit(env, tmp_path, timeout=60)
    took = time.monotonic() - started
    assert result.returncode != 0
    errors = [e["message"] for e in json_lines(result.stdout) if e["severity"] == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("model load failed: REQUIRE_GPU=true but TensorFlow sees no GPU")
    assert "built with CUDA: no" in errors[0] and "GPU image" in errors[0]
    assert took < 30, f"took {took:.1f}s"
