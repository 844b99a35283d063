"""A body over MAX_REQUEST_BYTES gets a 413 that ordinary clients can read, under the real server.

urllib and requests write the whole body before they read the response: a server that answers and closes while they
are still writing resets the connection, and they report a broken pipe instead of the 413. curl sends
``Expect: 100-continue`` for large bodies and stops on the 413; forced not to, it is drained like the others.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
import requests

from tests.integration.server import run_server

BODY = b"[" * (40 * 1024 * 1024)  # 40 MiB, over the default 32 MiB limit
LIMIT_MESSAGE = f"request body is larger than the limit of {32 * 1024 * 1024} bytes (MAX_REQUEST_BYTES)"


@pytest.fixture(scope="module")
def server(toy_model_dir, tmp_path_factory):
    env = {"MODEL_URI": str(toy_model_dir), "MODEL_NAME": "toy", "WORKERS": "1"}
    with run_server(env, tmp_path_factory.mktemp("oversized")) as running:
        yield running


def still_serves(server) -> None:
    r = requests.post(server.url + "/predict", json={"instances": [[1, 2, 3]]}, timeout=30)
    assert r.status_code == 200, r.text


def test_urllib_reads_the_413(server):
    request = urllib.request.Request(server.url + "/predict", data=BODY, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert json.loads(caught.value.read()) == {"error": LIMIT_MESSAGE}
    still_serves(server)


def test_requests_reads_the_413(server):
    r = requests.post(server.url + "/predict", data=BODY, headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json() == {"error": LIMIT_MESSAGE}
    assert r.headers["Connection"] == "close" and r.headers["X-Model-Name"] == "toy"
    still_serves(server)


def test_requests_reads_the_413_of_a_chunked_body(server):
    def chunks():
        for _ in range(40):
            yield b"[" * (1024 * 1024)

    r = requests.post(server.url + "/predict", data=chunks(), headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json() == {"error": LIMIT_MESSAGE}
    still_serves(server)


@pytest.mark.parametrize("expect", ["default", "off"], ids=["expect-100-continue", "no-expect"])
def test_curl_reads_the_413(server, tmp_path, expect):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    headers = [] if expect == "default" else ["-H", "Expect:"]  # curl sends Expect: 100-continue for big bodies
    result = subprocess.run(
        [
            curl,
            "-sS",
            "-w",
            "\n%{http_code}",
            "-H",
            "Content-Type: application/json",
            *headers,
            "--data-binary",
            f"@{body}",
            server.url + "/predict",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    payload, status = result.stdout.rsplit("\n", 1)
    assert status == "413" and json.loads(payload) == {"error": LIMIT_MESSAGE}
    still_serves(server)
