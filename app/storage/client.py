"""Build the Cloud Storage client and turn its errors into ``StorageError`` messages a person can act on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from app.errors import StorageError
from app.storage.retry import describe

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
"""google-cloud-storage's own switch to a local emulator; despite the name it holds a url (``http://host:port``)."""

EMULATOR_PROJECT = "emulator-project"

CALL_TIMEOUT_SECONDS = 60.0
"""Connect and read timeout of every storage call (the read timeout is between bytes, not per object)."""


def make_client() -> storage.Client:
    """A client using Application Default Credentials, or anonymous ones against ``STORAGE_EMULATOR_HOST``.

    The library already switches endpoint on that variable; being explicit here also accepts a bare
    ``host:port`` and never looks for credentials or a project, which the emulator does not need.
    """
    emulator = os.environ.get(EMULATOR_ENV)
    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        client = storage.Client(
            project=os.environ.get("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT),
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    else:
        try:
            client = storage.Client()
        except (auth_exceptions.DefaultCredentialsError, OSError) as exc:
            raise StorageError(
                f"cannot create a Cloud Storage client ({describe(exc)}); run with a service account or "
                "`gcloud auth application-default login`"
            ) from exc
    # Recent google-cloud-storage (3.17 here) fetches bucket metadata in a background thread on first use, for
    # tracing attributes. That call needs storage.buckets.get (not in roles/storage.objectViewer) and runs with the
    # library's own retry policy, outside ours; the library skips it when this cache is unset.
    client._bucket_metadata_cache = None
    return client


@contextmanager
def storage_errors(action: str, uri: str, *, not_found: str = "not found") -> Iterator[None]:
    """Re-raise API errors from the block as ``StorageError("<action> <uri>: <why>")``.

    ``not_found`` says what a 404 means for this call (for a listing: the bucket is missing).
    """
    try:
        yield
    except StorageError:
        raise
    except api_exceptions.NotFound as exc:
        raise StorageError(f"{action} {uri}: {not_found}") from exc
    except (api_exceptions.Forbidden, api_exceptions.Unauthorized) as exc:
        raise StorageError(
            f"{action} {uri}: permission denied ({describe(exc)}); the service account needs "
            "roles/storage.objectViewer on the bucket"
        ) from exc
    except (api_exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError) as exc:
        raise StorageError(f"{action} {uri}: {describe(exc)}") from exc
