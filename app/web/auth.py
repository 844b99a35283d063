"""Optional in-app authorization: with ``AUTH_MODE=google-id-token`` every route but the probes needs a token.

Cloud Run IAM is the primary gate; this is for GKE and local use. Verification lives in ``app.auth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, request

from app.auth import TokenVerifier, bearer_token

if TYPE_CHECKING:
    from app.settings import Settings


def open_paths(settings: Settings) -> frozenset[str]:
    """Routes that answer without a token: the probes (kubelet and load balancers send none) and /metrics
    (Prometheus scrapers cannot present Google ID tokens; it carries counts and timings, no model data)."""
    return frozenset({"/healthz", "/readyz", settings.health_route, "/v2/health/live", "/v2/health/ready", "/metrics"})


def install(app: Flask, settings: Settings) -> None:
    """Register the token check as a ``before_request`` hook; nothing at all when ``AUTH_MODE=none``."""
    if settings.auth_mode == "none":
        return
    verifier = TokenVerifier(settings.auth_audience, settings.auth_allowed_emails, settings.auth_certs_url)
    unauthenticated = open_paths(settings)
    app.extensions["auth"] = verifier

    @app.before_request
    def _authorize() -> None:
        # Runs before routing errors are raised, so unknown routes answer 401 too and reveal nothing.
        if request.path in unauthenticated:
            return
        verifier.verify(bearer_token(request.headers.get("Authorization")))
