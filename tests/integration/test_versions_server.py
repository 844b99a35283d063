"""Several versions at once under real gunicorn: TF Serving's two-version half_plus_two (123: 0.5x+2, 124: 0.5x+3)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.integration.metrics_text import sample
from tests.integration.server import ROOT, free_port, run_server, server_env

OK = {"error_code": "OK", "error_message": ""}
X = {"instances": [[1.0], [2.0]]}
FROM_123 = {"predictions": [[2.5], [3.0]]}
FROM_124 = {"predictions": [[3.5], [4.0]]}


def env(base_dir, **extra: str) -> dict[str, str]:
    return {"MODEL_URI": str(base_dir), "MODEL_NAME": "half_plus_two", "WORKERS": "1", "THREADS": "2", **extra}


def startup_lines(log: str) -> list[dict]:
    """The startup lines (one per version, then the summary): the ones that report phase times."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if "phases_s" in line]


@pytest.fixture(scope="module")
def default_server(half_plus_two_2_versions_base_dir, tmp_path_factory):
    with run_server(env(half_plus_two_2_versions_base_dir), tmp_path_factory.mktemp("versions-default")) as server:
        yield server


@pytest.fixture(scope="module")
def all_server(half_plus_two_2_versions_base_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("versions-all")
    labels = {"MODEL_VERSION_POLICY": "all", "MODEL_VERSION_LABELS": "stable=123,canary=124"}
    with run_server(env(half_plus_two_2_versions_base_dir, **labels), tmp) as server:
        yield server


def test_by_default_only_the_latest_version_is_served(default_server):
    url = default_server.url
    assert requests.get(f"{url}/v1/models/half_plus_two", timeout=10).json() == {
        "model_version_status": [{"version": "124", "state": "AVAILABLE", "status": OK}]
    }
    for path in ("/predict", "/v1/models/half_plus_two:predict"):
        r = requests.post(url + path, json=X, timeout=30)
        assert (r.status_code, r.json(), r.headers["X-Model-Version"]) == (200, FROM_124, "124")
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert sample(metrics, "model_server_build_info", **build_info("124")) == 1
    with pytest.raises(AssertionError, match="no sample"):
        sample(metrics, "model_server_build_info", **build_info("123"))


def test_all_versions_are_loaded_and_the_latest_is_the_default(all_server):
    url = all_server.url
    assert requests.get(f"{url}/readyz", timeout=10).json() == {
        "status": "ready",
        "model_name": "half_plus_two",
        "model_version": "124",
    }
    assert requests.post(f"{url}/predict", json=X, timeout=30).json() == FROM_124
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert sample(metrics, "model_server_build_info", **build_info("123")) == 1
    assert sample(metrics, "model_server_build_info", **build_info("124")) == 1
    lines = startup_lines(all_server.log())
    assert [line["message"].split(" loaded in ")[0] for line in lines[:2]] == [
        "model half_plus_two version 123",
        "model half_plus_two version 124",
    ]
    summary = lines[2]
    assert summary["message"].startswith("model half_plus_two versions 123, 124 ready on CPU in ")
    assert (summary["model_versions"], summary["version_policy"]) == (["123", "124"], "all")
    assert summary["version_labels"] == {"stable": "123", "canary": "124"}


def test_status_lists_every_served_version(all_server):
    url = all_server.url
    assert requests.get(f"{url}/v1/models/half_plus_two", timeout=10).json() == {
        "model_version_status": [
            {"version": "124", "state": "AVAILABLE", "status": OK},
            {"version": "123", "state": "AVAILABLE", "status": OK},
        ]
    }
    assert requests.get(f"{url}/v1/models/half_plus_two/labels/stable", timeout=10).json() == {
        "model_version_status": [{"version": "123", "state": "AVAILABLE", "status": OK}]
    }


def test_requests_reach_the_version_or_label_they_name(all_server):
    url = all_server.url + "/v1/models/half_plus_two"
    for path, expected in [
        (":predict", FROM_124),
        ("/versions/123:predict", FROM_123),
        ("/versions/124:predict", FROM_124),
        ("/labels/stable:predict", FROM_123),
        ("/labels/canary:predict", FROM_124),
    ]:
        r = requests.post(url + path, json=X, timeout=30)
        assert (path, r.status_code, r.json()) == (path, 200, expected)
    r = requests.post(f"{url}/labels/beta:predict", json=X, timeout=30)
    assert (r.status_code, r.json()) == (400, {"error": "Unrecognized servable version label: beta"})
    r = requests.post(f"{url}/versions/125:predict", json=X, timeout=30)
    assert (r.status_code, r.json()) == (404, {"error": "Servable not found for request: Specific(half_plus_two, 125)"})


def test_a_label_on_a_version_that_is_not_served_stops_the_boot(half_plus_two_2_versions_base_dir, tmp_path):
    # The default policy serves 124 only; TF Serving refuses such a label too (ServerCore::UpdateModelVersionLabelMap).
    variables = env(half_plus_two_2_versions_base_dir, MODEL_VERSION_LABELS="stable=123", PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=server_env(variables, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    [error] = [json.loads(line) for line in result.stdout.splitlines() if '"ERROR"' in line]
    assert error["message"] == (
        "model load failed: MODEL_VERSION_LABELS: label 'stable' points to version 123 of model half_plus_two, "
        "which is not served (served: 124; MODEL_VERSION_POLICY chooses them)"
    )


def build_info(model_version: str) -> dict[str, str]:
    import tensorflow as tf

    from app import __version__

    return {
        "version": __version__,
        "model_name": "half_plus_two",
        "model_version": model_version,
        "tensorflow_version": tf.__version__,
    }
