"""Fixtures for the auth tests: a signing key Google "published", one it did not, and its certificate server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.issuer import CertServer, SigningKey


@pytest.fixture(scope="session")
def google_key() -> SigningKey:
    return SigningKey("google-key-1")


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    """An unpublished key that claims the published key's id: its signatures must not verify."""
    return SigningKey("google-key-1")


@pytest.fixture
def cert_server(google_key: SigningKey) -> Iterator[CertServer]:
    server = CertServer({google_key.kid: google_key.cert_pem})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dead_certs_url() -> str:
    """A URL on a local port nothing listens on (the server was started and stopped)."""
    server = CertServer({})
    server.stop()
    return server.url
