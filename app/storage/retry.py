"""Bounded retries with exponential backoff and jitter for transient storage failures."""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from app.errors import StorageError

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BACKOFF_SECONDS = 30.0

_TRANSIENT: tuple[type[BaseException], ...] = (
    api_exceptions.ServerError,  # every 5xx
    api_exceptions.TooManyRequests,  # 429
    requests.exceptions.ConnectionError,  # includes ConnectTimeout
    requests.exceptions.Timeout,  # ReadTimeout
    requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
    # Object downloads stream the body straight from urllib3, which requests does not wrap: a connection
    # closed before Content-Length bytes (IncompleteRead) and a stall between body bytes surface as these.
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    http.client.HTTPException,
    auth_exceptions.TransportError,  # token refresh could not reach the metadata server
    ConnectionError,
    TimeoutError,
)


class TransientError(StorageError):
    """A failure worth retrying that is not an HTTP or network error (e.g. a checksum mismatch)."""


def is_transient(exc: BaseException) -> bool:
    """True when trying again may succeed. NotFound, Forbidden and other 4xx are final."""
    return isinstance(exc, (TransientError, *_TRANSIENT))


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    backoff_seconds: float = 0.5,
) -> T:
    """Call ``fn`` up to ``attempts`` times, sleeping ``backoff_seconds * 2**n`` (±50% jitter) between tries.

    Only transient errors are retried; any other exception propagates at once, unchanged.
    When every attempt failed, raises ``StorageError`` naming ``what`` and the last error.
    """
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise StorageError(f"giving up on {what} after {attempts} attempts: {describe(exc)}") from exc
            delay = min(MAX_BACKOFF_SECONDS, backoff_seconds * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.5)  # jitter keeps many workers from retrying in lockstep
            logger.warning(
                "%s failed (attempt %d/%d, retrying in %.2fs): %s",
                what,
                attempt,
                attempts,
                delay,
                describe(exc),
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def describe(exc: BaseException) -> str:
    """One line about an error, without a traceback or response body."""
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return f"HTTP {exc.code} {type(exc).__name__}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
