"""Find the SavedModel versions under a ``gs://`` uri and list the objects that make up each one."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cached_property

from google.cloud import storage

from app.errors import StorageError
from app.storage.checksums import Digests
from app.storage.client import CALL_TIMEOUT_SECONDS, storage_errors
from app.storage.layout import SAVED_MODEL_FILES, log_single_version, no_model_error, own_version, pick_versions
from app.storage.retry import with_retries
from app.storage.uris import GcsLocation, parse_gcs_uri
from app.versions import VersionPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteObject:
    """One object of a model version, with the metadata captured at listing time."""

    name: str
    """Full object name in the bucket."""
    relative: str
    """Path below the version directory, ``/``-separated."""
    generation: int
    digests: Digests


@dataclass(frozen=True)
class RemoteModel:
    """A chosen version directory and its objects."""

    location: GcsLocation
    version: int
    objects: tuple[RemoteObject, ...]

    @property
    def total_bytes(self) -> int:
        """Sum of the object sizes."""
        return sum(obj.digests.size for obj in self.objects)

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever any object of the version is added, removed or re-uploaded."""
        identity = [self.location.bucket, self.location.prefix] + [
            [obj.relative, obj.generation, obj.digests.size, obj.digests.crc32c] for obj in self.objects
        ]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


class _Lister:
    """Listing calls with retries and readable errors, remembering recursive listings already made."""

    def __init__(
        self, client: storage.Client, uri: str, retries: int, backoff_seconds: float, timeout_seconds: float
    ) -> None:
        self._client = client
        self._uri = uri
        self._retries = retries
        self._backoff_seconds = backoff_seconds
        self._timeout_seconds = timeout_seconds
        self._recursive: dict[GcsLocation, list[storage.Blob]] = {}

    def list(self, location: GcsLocation, *, delimiter: str | None) -> tuple[list[storage.Blob], set[str]]:
        """Objects (and, with a delimiter, sub-prefixes) at ``location``."""

        def call() -> tuple[list[storage.Blob], set[str]]:
            pages = self._client.list_blobs(
                location.bucket,
                prefix=location.prefix,
                delimiter=delimiter,
                timeout=self._timeout_seconds,
                retry=None,  # with_retries is the one retry policy, so attempts stay bounded
            )
            blobs = list(pages)
            return blobs, set(pages.prefixes)

        with storage_errors("listing", self._uri, not_found=f"bucket {location.bucket!r} does not exist"):
            return with_retries(
                call,
                what=f"listing {location.uri}/",
                attempts=self._retries,
                backoff_seconds=self._backoff_seconds,
            )

    def recursive(self, location: GcsLocation) -> list[storage.Blob]:
        """Every object below ``location``, listed once per location."""
        if location not in self._recursive:
            self._recursive[location] = self.list(location, delimiter=None)[0]
        return self._recursive[location]

    def holds_saved_model(self, location: GcsLocation) -> bool:
        """Whether ``location`` is a SavedModel; its recursive listing is kept for the download."""
        return _has_saved_model(location, self.recursive(location))


def resolve_remote(
    client: storage.Client,
    uri: str,
    policy: VersionPolicy,
    *,
    retries: int,
    backoff_seconds: float,
    timeout_seconds: float = CALL_TIMEOUT_SECONDS,
) -> list[RemoteModel]:
    """Resolve ``uri`` to the version directories ``policy`` serves and their objects (TF Serving layout rules)."""
    base = parse_gcs_uri(uri)
    lister = _Lister(client, uri, retries, backoff_seconds, timeout_seconds)
    top_blobs, sub_prefixes = lister.list(base, delimiter="/")
    if _has_saved_model(base, top_blobs):
        log_single_version(base.uri, own_version(base.name), policy)
        picked = [(base, own_version(base.name))]
    else:
        children = [prefix[len(base.prefix) :].rstrip("/") for prefix in sorted(sub_prefixes)]
        versions = pick_versions(base.uri, children, lambda name: lister.holds_saved_model(base.child(name)), policy)
        picked = [(base.child(child), version) for child, version in versions]
    return [_remote_model(uri, lister, location, version) for location, version in picked]


def _remote_model(uri: str, lister: _Lister, location: GcsLocation, version: int) -> RemoteModel:
    objects = tuple(_remote_object(location, blob) for blob in lister.recursive(location) if _is_file(blob))
    if not objects:  # pragma: no cover - a SavedModel dir always holds at least saved_model.pb
        raise no_model_error(uri)
    return RemoteModel(location=location, version=version, objects=objects)


def _has_saved_model(location: GcsLocation, blobs: list[storage.Blob]) -> bool:
    names = {location.prefix + name for name in SAVED_MODEL_FILES}
    return any(blob.name in names for blob in blobs)


def _is_file(blob: storage.Blob) -> bool:
    # Zero-byte "folder" placeholders (names ending in "/") are made by some upload tools; they carry no data.
    return not blob.name.endswith("/")


def _remote_object(location: GcsLocation, blob: storage.Blob) -> RemoteObject:
    uri = f"gs://{location.bucket}/{blob.name}"
    relative = blob.name[len(location.prefix) :]
    if any(part in ("", ".", "..") for part in relative.split("/")):
        raise StorageError(f"refusing to download {uri}: its name is not a plain relative path")
    if blob.content_encoding == "gzip":
        raise StorageError(f"refusing to download {uri}: it is stored gzip-encoded; upload model files without -z/-Z")
    return RemoteObject(
        name=blob.name,
        relative=relative,
        generation=int(blob.generation),
        digests=Digests(size=int(blob.size or 0), crc32c=blob.crc32c, md5=blob.md5_hash),
    )
