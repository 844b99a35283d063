"""One error hierarchy for the whole service.

Request-time errors carry the HTTP status they map to; ``app.http.errors`` renders every one of them as
``{"error": "<message>"}`` in one place. Model and storage code raise these without knowing about HTTP.
``ModelLoadError`` is a boot-time failure: the process logs one line and exits non-zero.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error a request can end in. ``status`` is the HTTP code it maps to."""

    status: int = 500
    headers: dict[str, str] = {}  # noqa: RUF012 - extra response headers, e.g. Retry-After

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request is malformed or does not fit the model's signature (wrong shape, dtype, missing input)."""

    status = 400


class NotFound(ServingError):
    """Unknown model, version, signature or route."""

    status = 404


class MethodNotAllowed(ServingError):
    """The route exists but not for this HTTP method."""

    status = 405


class PayloadTooLarge(ServingError):
    """The request body is over the configured limit."""

    status = 413


class UnsupportedMediaType(ServingError):
    """The request body is not JSON (or another accepted encoding)."""

    status = 415


class ModelNotReady(ServingError):
    """The model is not loaded and warmed up yet, or the server is shutting down."""

    status = 503


class Overloaded(ServingError):
    """The request queue is full: shed the request at once rather than let latency grow without bound."""

    status = 503
    headers = {"Retry-After": "1"}  # noqa: RUF012


class ClientGone(ServingError):
    """The client closed the connection before the model ran; the work was skipped (nginx's 499)."""

    status = 499


class ModelLoadError(Exception):
    """The model could not be found, fetched, verified or loaded. Fatal at boot."""


class StorageError(ModelLoadError):
    """Fetching the model from storage failed (missing objects, checksum mismatch, retries exhausted)."""


class Unauthorized(ServingError):
    """No bearer token, or one that does not verify (signature, expiry, audience, issuer)."""

    status = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012


class Forbidden(ServingError):
    """A valid token, but its caller is not on the allow-list."""

    status = 403


class AuthUnavailable(ServingError):
    """Tokens cannot be verified right now: the signing certificates could not be fetched."""

    status = 503
    headers = {"Retry-After": "5"}  # noqa: RUF012
