"""AUTH_MODE=google-id-token through Flask's test client: who gets in, and the exact error shapes."""

from __future__ import annotations

import pytest

from app import create_app
from app.settings import Settings
from tests.auth.issuer import AUDIENCE, CALLER, claims

PREDICT = "/v1/models/toy:predict"
BODY = {"instances": [[1, 2, 3]]}
HEALTH_ROUTES = ["/healthz", "/readyz", "/vertex/health", "/v2/health/live", "/v2/health/ready", "/metrics"]


def make_app(toy_model_dir, toy_predictor, **env: str):
    settings = Settings.from_env({"MODEL_URI": str(toy_model_dir), "AIP_HEALTH_ROUTE": "/vertex/health", **env})
    toy_predictor.mark_ready()
    return create_app(settings, toy_predictor)


@pytest.fixture
def client(toy_model_dir, toy_predictor, cert_server):
    env = {"AUTH_MODE": "google-id-token", "AUTH_AUDIENCE": AUDIENCE, "AUTH_CERTS_URL": cert_server.url}
    return make_app(toy_model_dir, toy_predictor, AUTH_ALLOWED_EMAILS=f" {CALLER.upper()} ", **env).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_allowed_caller_gets_a_prediction(client, google_key):
    r = client.post(PREDICT, json=BODY, headers=bearer(google_key.sign(claims())))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"predictions": [{"total": 6.0, "y": [2.0, 4.0, 6.0]}]}


def test_no_token_is_401_with_a_bearer_challenge(client):
    r = client.post(PREDICT, json=BODY)
    assert r.status_code == 401
    assert r.get_json() == {"error": "missing bearer token"}
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.headers["X-Request-Id"]  # the usual response headers still come


def test_bad_tokens_are_401_without_echoing_the_token(client, google_key, other_key):
    cases = {
        "invalid token: bad signature": other_key.sign(claims()),
        "invalid token: expired": google_key.sign(claims(iat=1_000_000, exp=1_003_600)),
        "invalid token: wrong audience": google_key.sign(claims(aud="https://other.example.test")),
        "invalid token: malformed": "not-a-jwt",
    }
    for message, token in cases.items():
        r = client.post(PREDICT, json=BODY, headers=bearer(token))
        assert (r.status_code, r.get_json()) == (401, {"error": message})
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert token not in r.get_data(as_text=True)


def test_other_caller_is_403(client, google_key):
    r = client.post(PREDICT, json=BODY, headers=bearer(google_key.sign(claims(email="x@y.example"))))
    assert (r.status_code, r.get_json()) == (403, {"error": "caller x@y.example is not allowed"})
    assert "WWW-Authenticate" not in r.headers


@pytest.mark.parametrize("path", HEALTH_ROUTES)
def test_health_routes_stay_open(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models/toy"),
        ("GET", "/v1/models/toy/metadata"),
        ("POST", "/predict"),
        ("GET", "/v2"),
        ("GET", "/v2/models/toy"),
        ("POST", "/v2/models/toy/infer"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/route"),  # 401, not 404: routes are not revealed to strangers
        ("GET", "/healthz/"),
    ],
)
def test_everything_else_needs_a_token(client, method, path):
    r = client.open(path, method=method, json={} if method == "POST" else None)
    assert (r.status_code, r.get_json()) == (401, {"error": "missing bearer token"})


def test_unreachable_certificates_are_503_not_500(toy_model_dir, toy_predictor, dead_certs_url, google_key):
    env = {"AUTH_MODE": "google-id-token", "AUTH_AUDIENCE": AUDIENCE, "AUTH_CERTS_URL": dead_certs_url}
    client = make_app(toy_model_dir, toy_predictor, **env).test_client()
    r = client.post(PREDICT, json=BODY, headers=bearer(google_key.sign(claims())))
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert r.get_json() == {"error": "cannot verify tokens now: the token signing certificates are unavailable"}
    assert client.get("/healthz").status_code == 200


def test_any_valid_token_without_an_allow_list(toy_model_dir, toy_predictor, cert_server, google_key):
    env = {"AUTH_MODE": "google-id-token", "AUTH_AUDIENCE": AUDIENCE, "AUTH_CERTS_URL": cert_server.url}
    client = make_app(toy_model_dir, toy_predictor, **env).test_client()
    token = google_key.sign(claims(email="anyone@example.test", email_verified=False))
    assert client.post(PREDICT, json=BODY, headers=bearer(token)).status_code == 200


def test_auth_mode_none_installs_nothing(toy_model_dir, toy_predictor):
    app = make_app(toy_model_dir, toy_predictor)
    assert "auth" not in app.extensions
    assert app.test_client().post(PREDICT, json=BODY).status_code == 200
