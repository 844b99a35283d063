"""``fetch_model``: turn a model uri (local or ``gs://``) into a local SavedModel directory."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from google.cloud import storage

from app.storage import cache
from app.storage.client import CALL_TIMEOUT_SECONDS, make_client
from app.storage.gcs_download import download_objects
from app.storage.gcs_listing import RemoteModel, resolve_remote
from app.storage.layout import ResolvedModel
from app.storage.local import resolve_local
from app.storage.uris import is_gcs_uri, local_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Fetched:
    model: ResolvedModel
    files: int
    bytes: int
    served_from: str  # "local", "cache" or "download"


def fetch_model(
    uri: str,
    cache_dir: Path,
    *,
    max_workers: int = 8,
    retries: int = 4,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = CALL_TIMEOUT_SECONDS,
    client: storage.Client | None = None,
) -> ResolvedModel:
    """Resolve ``uri`` to a local SavedModel directory, downloading it into ``cache_dir`` if it is remote.

    ``uri`` is a local path (``file://`` allowed) or ``gs://bucket/prefix``, naming either a SavedModel or a
    TF Serving base directory (the highest numeric version is served). Local models are used in place.
    Remote ones are downloaded in parallel, verified, and published atomically under a name that changes
    when the objects do, so an unchanged version is reused from the cache by every process.

    Every storage call gets ``timeout_seconds`` (connect, and between bytes) and up to ``retries`` attempts
    with exponential backoff from ``backoff_seconds``; 5xx, 429, timeouts, broken connections, missing
    objects and checksum mismatches are retried, and a model that never verifies is never published.
    Raises ``ModelLoadError`` when there is no model at ``uri`` and ``StorageError`` when storage fails.
    """
    started = time.monotonic()
    if is_gcs_uri(uri):
        fetched = _fetch_gcs(
            uri,
            cache_dir,
            client=client or make_client(),
            max_workers=max_workers,
            retries=retries,
            backoff_seconds=backoff_seconds,
            timeout_seconds=timeout_seconds,
        )
    else:
        fetched = _fetch_local(uri)
    logger.info(
        "model fetched: uri=%s version=%d files=%d bytes=%d seconds=%.2f served_from=%s path=%s",
        fetched.model.source_uri,
        fetched.model.version,
        fetched.files,
        fetched.bytes,
        time.monotonic() - started,
        fetched.served_from,
        fetched.model.path,
    )
    return fetched.model


def _fetch_local(uri: str) -> _Fetched:
    model = resolve_local(local_path(uri))
    files = [path for path in model.path.rglob("*") if path.is_file()]
    return _Fetched(model, len(files), sum(path.stat().st_size for path in files), "local")


def _fetch_gcs(
    uri: str,
    cache_dir: Path,
    *,
    client: storage.Client,
    max_workers: int,
    retries: int,
    backoff_seconds: float,
    timeout_seconds: float,
) -> _Fetched:
    remote = resolve_remote(
        client, uri, retries=retries, backoff_seconds=backoff_seconds, timeout_seconds=timeout_seconds
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = cache_name(remote)

    def fill(dest: Path) -> None:
        download_objects(
            client,
            remote.location.bucket,
            remote.objects,
            dest,
            max_workers=max_workers,
            retries=retries,
            backoff_seconds=backoff_seconds,
            timeout_seconds=timeout_seconds,
        )

    path, from_cache = cache.fetch_cached(cache_dir, name, _manifest(remote), fill)
    model = ResolvedModel(path=path, version=remote.version, source_uri=remote.location.uri)
    return _Fetched(model, len(remote.objects), remote.total_bytes, "cache" if from_cache else "download")


def cache_name(remote: RemoteModel) -> str:
    """Cache entry of a remote version: bucket, prefix and version for people, the fingerprint for change."""
    label = f"{remote.location.bucket}/{remote.location.prefix}v{remote.version}"
    return cache.entry_name(label, remote.fingerprint)


def _manifest(remote: RemoteModel) -> cache.Manifest:
    return {
        "source_uri": remote.location.uri,
        "version": remote.version,
        "fingerprint": remote.fingerprint,
        "files": [
            {
                "path": obj.relative,
                "size": obj.digests.size,
                "generation": obj.generation,
                "crc32c": obj.digests.crc32c,
                "md5": obj.digests.md5,
            }
            for obj in remote.objects
        ],
    }
