"""Verify Google-signed ID tokens (``AUTH_MODE=google-id-token``). No Flask here: ``app.web.auth`` wires it in.

google-auth's ``id_token.verify_token`` checks the RS256 signature against the certificates at the certificates
URL, the expiry and the audience, but not the issuer, so the issuer is checked here. It fetches the certificates on
every call through the transport it is given; ``CachedCertsRequest`` is that transport, with a cache.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import google.auth.transport.requests
import requests
from google.auth import exceptions, transport
from google.oauth2 import id_token

from app.errors import AuthUnavailable, Forbidden, Unauthorized

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
#: The issuers of Google-signed ID tokens (a tuple: ``in`` must not hash an attacker's unhashable claim).
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_S = 30  # tolerated difference between Google's clock and ours for iat/exp
CERTS_TIMEOUT_S = 5.0  # a request never waits longer than this on the certificates endpoint
DEFAULT_TTL_S = 300  # certificates' lifetime when the response has no Cache-Control max-age
MIN_TTL_S, MAX_TTL_S = 60, 24 * 3600
MAX_STALE_S = 3600  # how long expired certificates stay usable while the endpoint is down (keys rotate over days)
RETRY_AFTER_FAILURE_S = 5.0  # after a failed fetch, fail fast instead of queueing every request behind a timeout

# google-auth reports every verification failure as ValueError subclasses told apart only by their messages (which
# may quote the token, so they are never passed on). Unknown messages read as "malformed".
_REASONS = (
    ("Token expired", "expired"),
    ("Token used too early", "not yet valid"),
    ("Token has wrong audience", "wrong audience"),
    ("Could not verify token signature", "bad signature"),
    ("Certificate for key id", "unknown signing key"),
    ("Unsupported signature algorithm", "unsupported algorithm"),
    ("Certificate key type does not match", "unsupported algorithm"),
    ("Token does not contain required claim", "missing iat or exp claim"),
)


def bearer_token(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer <token>`` header value; ``Unauthorized`` if there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


class TokenVerifier:
    """Checks a Google-signed ID token: signature, expiry, audience, issuer, and the caller's email if listed."""

    def __init__(
        self,
        audience: str,
        allowed_emails: Iterable[str] = (),
        certs_url: str = GOOGLE_CERTS_URL,
        request: transport.Request | None = None,
    ) -> None:
        self.audience = audience
        self.allowed_emails = frozenset(e.lower() for e in allowed_emails)
        self.certs_url = certs_url
        self._request = request or CachedCertsRequest()

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's verified claims. Raises ``Unauthorized``, ``Forbidden`` or ``AuthUnavailable`` (503)."""
        try:
            claims = id_token.verify_token(
                token,
                self._request,
                audience=self.audience,
                certs_url=self.certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_S,
            )
        except exceptions.TransportError as exc:  # logged where the fetch failed
            raise AuthUnavailable("cannot verify tokens now: the token signing certificates are unavailable") from exc
        # RecursionError: json.loads of an absurdly nested header; TypeError: claims of the wrong JSON type.
        except (ValueError, TypeError, RecursionError, exceptions.GoogleAuthError) as exc:
            raise _invalid(_reason(exc)) from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise _invalid("wrong issuer")
        if self.allowed_emails:
            self._check_caller(claims)
        return claims

    def _check_caller(self, claims: Mapping[str, Any]) -> None:
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            log.warning("denied a token without an email claim (subject %s)", claims.get("sub"))
            raise Forbidden("caller is not allowed: the token has no email claim")
        email = email.lower()
        if email not in self.allowed_emails:
            log.warning("denied caller %s: not in AUTH_ALLOWED_EMAILS", email)
            raise Forbidden(f"caller {email} is not allowed")
        # Google sets a boolean; very old tokens carried the string "true".
        if claims.get("email_verified") not in (True, "true"):
            log.warning("denied caller %s: email not verified", email)
            raise Forbidden(f"caller {email} is not allowed: email not verified")


def _invalid(reason: str) -> Unauthorized:
    error = Unauthorized(f"invalid token: {reason}")
    error.headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}  # RFC 6750 section 3.1
    return error


def _reason(exc: Exception) -> str:
    text = str(exc)
    return next((reason for prefix, reason in _REASONS if text.startswith(prefix)), "malformed")


@dataclass(frozen=True)
class _Cached:
    response: transport.Response
    fresh_until: float


class CachedCertsRequest(transport.Request):
    """A google-auth transport for GETs of certificate URLs that fetches each URL once per Cache-Control max-age.

    Thread-safe; concurrent callers on a cold cache share one fetch. Only a 200 carrying a ``{key id: PEM}`` JSON
    object is cached; anything else raises ``TransportError``. When a refresh fails, the previous certificates stay
    in use for up to ``MAX_STALE_S``, and the endpoint is not asked again for ``RETRY_AFTER_FAILURE_S``.
    """

    def __init__(self, session: requests.Session | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = google.auth.transport.requests.Request(session or requests.Session())
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, _Cached] = {}
        self._retry_at: dict[str, float] = {}

    def __call__(self, url: str, method: str = "GET", body=None, headers=None, timeout=None, **kwargs):
        """The (cached) response to ``GET url``; the other arguments are accepted and ignored."""
        with self._lock:
            now = self._clock()
            cached = self._cached.get(url)
            if cached and now < cached.fresh_until:
                return cached.response
            if now < self._retry_at.get(url, 0.0):
                return _stale_or_raise(cached, now, exceptions.TransportError(f"fetching {url} failed moments ago"))
            try:
                response = self._fetch(url)
            except exceptions.TransportError as exc:
                self._retry_at[url] = now + RETRY_AFTER_FAILURE_S
                log.error("could not fetch token signing certificates from %s: %s", url, exc)
                return _stale_or_raise(cached, now, exc)
            self._cached[url] = _Cached(response, now + _max_age(response.headers.get("Cache-Control", "")))
            return response

    def _fetch(self, url: str) -> transport.Response:
        response = self._inner(url, method="GET", timeout=CERTS_TIMEOUT_S)
        if response.status != 200:
            raise exceptions.TransportError(f"HTTP {response.status}")
        try:
            certs = json.loads(response.data)
        except ValueError:
            raise exceptions.TransportError("the response is not JSON") from None
        if not isinstance(certs, dict) or not certs or not all(_is_pem(v) for v in certs.values()):
            raise exceptions.TransportError("the response is not a {key id: PEM certificate} JSON object")
        return response


def _stale_or_raise(cached: _Cached | None, now: float, exc: exceptions.TransportError) -> transport.Response:
    if cached and now < cached.fresh_until + MAX_STALE_S:
        return cached.response
    raise exc


def _is_pem(value: object) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("-----BEGIN ")


def _max_age(cache_control: str) -> float:
    match = re.search(r"max-age=(\d+)", cache_control)
    return min(max(int(match.group(1)), MIN_TTL_S), MAX_TTL_S) if match else DEFAULT_TTL_S
