"""Token verification (``app.auth``) against a local fake of Google's certificate endpoint."""

from __future__ import annotations

import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import auth
from app.auth import CachedCertsRequest, TokenVerifier, bearer_token
from app.errors import AuthUnavailable, Forbidden, Unauthorized
from tests.auth.issuer import AUDIENCE, CALLER, claims


def verifier(url: str, allowed: tuple[str, ...] = (), **kw) -> TokenVerifier:
    return TokenVerifier(AUDIENCE, allowed, certs_url=url, **kw)


def rejected(v: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        v.verify(token)
    assert not token or token not in caught.value.message
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return caught.value


def segment(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_valid_token_gives_its_claims(cert_server, google_key):
    got = verifier(cert_server.url).verify(google_key.sign(claims()))
    assert got["email"] == CALLER and got["aud"] == AUDIENCE and got["iss"] == "https://accounts.google.com"


def test_both_google_issuer_spellings_are_accepted(cert_server, google_key):
    assert verifier(cert_server.url).verify(google_key.sign(claims(iss="accounts.google.com")))["sub"] == "1234567890"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 4200}, "not yet valid"),
        ({"aud": "https://someone-else.example.test"}, "wrong audience"),
        ({"aud": None}, "wrong audience"),
        ({"iss": "https://evil.example.test"}, "wrong issuer"),
        ({"iss": None}, "wrong issuer"),
        ({"iss": ["accounts.google.com"]}, "wrong issuer"),
        ({"exp": None}, "missing iat or exp claim"),
        ({"exp": "tomorrow"}, "malformed"),
    ],
)
def test_claims_that_do_not_verify(cert_server, google_key, overrides, reason):
    error = rejected(verifier(cert_server.url), google_key.sign(claims(**overrides)))
    assert error.message == f"invalid token: {reason}"
    assert error.status == 401


def test_signature_by_an_unpublished_key_is_rejected(cert_server, other_key):
    assert rejected(verifier(cert_server.url), other_key.sign(claims())).message == "invalid token: bad signature"


def test_unknown_key_id_is_rejected(cert_server, google_key):
    token = google_key.sign(claims(), kid="retired-key")
    assert rejected(verifier(cert_server.url), token).message == "invalid token: unknown signing key"


def test_unsigned_token_is_rejected(cert_server):
    token = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims())}."
    assert rejected(verifier(cert_server.url), token).message == "invalid token: unsupported algorithm"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "eyJ!!!.eyJ!!!.sig",
        f"{segment([1, 2])}.{segment(claims())}.c2ln",
        f"{segment({'alg': 'RS256'})}.{segment('just a string')}.c2ln",
        f"{'WwWw' * 2000}.{segment(claims())}.c2ln",  # "[[[[..." nested deeper than json allows
        "ya29.an-oauth-access-token-not-an-id-token",
    ],
)
def test_malformed_tokens_are_401_never_500(cert_server, token):
    assert rejected(verifier(cert_server.url), token).message == "invalid token: malformed"


def test_allowed_caller_passes_case_insensitively(cert_server, google_key):
    v = verifier(cert_server.url, (CALLER,))
    assert v.verify(google_key.sign(claims(email=CALLER.upper())))["sub"] == "1234567890"


def test_caller_not_on_the_list_is_forbidden(cert_server, google_key):
    with pytest.raises(Forbidden) as caught:
        verifier(cert_server.url, (CALLER,)).verify(google_key.sign(claims(email="x@y.example")))
    assert caught.value.message == "caller x@y.example is not allowed" and caught.value.status == 403


def test_unverified_email_is_forbidden(cert_server, google_key):
    with pytest.raises(Forbidden, match="email not verified"):
        verifier(cert_server.url, (CALLER,)).verify(google_key.sign(claims(email_verified=False)))
    with pytest.raises(Forbidden, match="email not verified"):
        verifier(cert_server.url, (CALLER,)).verify(google_key.sign(claims(email_verified=None)))


def test_token_without_email_is_forbidden_only_with_an_allow_list(cert_server, google_key):
    token = google_key.sign(claims(email=None, email_verified=None))
    with pytest.raises(Forbidden, match="no email claim"):
        verifier(cert_server.url, (CALLER,)).verify(token)
    assert verifier(cert_server.url).verify(token)["sub"] == "1234567890"


def test_certificates_are_fetched_once_for_many_verifications(cert_server, google_key):
    v = verifier(cert_server.url, (CALLER,))
    tokens = [google_key.sign(claims(sub=str(i))) for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        subjects = [c["sub"] for c in pool.map(v.verify, tokens)]
    assert subjects == [str(i) for i in range(40)]
    assert cert_server.fetches == 1


def test_certificates_are_refetched_after_max_age(cert_server, google_key):
    cert_server.cache_control = "public, max-age=600"
    now = [1000.0]
    v = verifier(cert_server.url, request=CachedCertsRequest(clock=lambda: now[0]))
    token = google_key.sign(claims())
    v.verify(token)
    now[0] += 599
    v.verify(token)
    assert cert_server.fetches == 1
    now[0] += 2
    v.verify(token)
    assert cert_server.fetches == 2


def test_unreachable_certificates_are_503_and_logged(dead_certs_url, google_key, caplog):
    token = google_key.sign(claims())
    with caplog.at_level(logging.ERROR, "app.auth"), pytest.raises(AuthUnavailable) as caught:
        verifier(dead_certs_url).verify(token)
    assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "5"}
    assert caught.value.message == "cannot verify tokens now: the token signing certificates are unavailable"
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert dead_certs_url in caplog.text and token not in caplog.text


@pytest.mark.parametrize(
    ("status", "body"), [(500, b'{"error": "boom"}'), (200, b"<html>"), (200, b'{"keys": [{"kid": "k"}]}')]
)
def test_broken_certificate_endpoint_is_503(cert_server, google_key, status, body):
    cert_server.status, cert_server.body = status, body
    with pytest.raises(AuthUnavailable):
        verifier(cert_server.url).verify(google_key.sign(claims()))


def test_old_certificates_serve_through_an_outage_then_expire(cert_server, google_key):
    cert_server.cache_control = "max-age=600"
    now = [1000.0]
    v = verifier(cert_server.url, request=CachedCertsRequest(clock=lambda: now[0]))
    token = google_key.sign(claims())
    v.verify(token)
    cert_server.status = 503
    now[0] += 601
    v.verify(token)  # refresh failed: the previous certificates still verify
    v.verify(token)  # and the endpoint is not asked again straight away
    assert cert_server.fetches == 2
    now[0] += auth.MAX_STALE_S
    with pytest.raises(AuthUnavailable):
        v.verify(token)
    cert_server.status = 200
    now[0] += auth.RETRY_AFTER_FAILURE_S
    v.verify(token)
    assert cert_server.fetches == 4


@pytest.mark.parametrize(
    ("header", "token"), [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer   abc.def.ghi ", "abc.def.ghi")]
)
def test_bearer_token_is_taken_from_the_header(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "abc.def.ghi"])
def test_missing_bearer_token_is_401_with_a_challenge(header):
    with pytest.raises(Unauthorized) as caught:
        bearer_token(header)
    assert caught.value.message == "missing bearer token"
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
