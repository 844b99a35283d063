"""AUTH_MODE=google-id-token in the real production server (gunicorn), verifying against a local cert server."""

from __future__ import annotations

import requests

from tests.auth.issuer import AUDIENCE, CALLER, claims
from tests.integration.server import run_server


def test_gunicorn_server_checks_tokens_and_keeps_probes_open(toy_model_dir, tmp_path, cert_server, google_key):
    env = {
        "MODEL_URI": str(toy_model_dir),
        "MODEL_NAME": "toy",
        "WORKERS": "1",
        "AUTH_MODE": "google-id-token",
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_ALLOWED_EMAILS": CALLER,
        "AUTH_CERTS_URL": cert_server.url,
    }
    good, other = google_key.sign(claims()), google_key.sign(claims(email="x@y.example"))
    with run_server(env, tmp_path) as server:  # waits on /readyz, which must answer without a token
        predict = server.url + "/v1/models/toy:predict"
        body = {"instances": [[1, 2, 3]]}

        r = requests.post(predict, json=body, timeout=30)
        assert (r.status_code, r.json()) == (401, {"error": "missing bearer token"})
        assert r.headers["WWW-Authenticate"] == "Bearer"

        r = requests.post(predict, json=body, headers={"Authorization": f"Bearer {other}"}, timeout=30)
        assert (r.status_code, r.json()) == (403, {"error": "caller x@y.example is not allowed"})

        for _ in range(3):
            r = requests.post(predict, json=body, headers={"Authorization": f"Bearer {good}"}, timeout=30)
            assert r.status_code == 200 and r.json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}

        for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
            assert requests.get(server.url + path, timeout=10).status_code == 200
        assert requests.get(server.url + "/openapi.json", timeout=10).status_code == 401
        log = server.log()
    assert cert_server.fetches == 1  # one worker, one fetch, however many requests
    assert good not in log and other not in log
