"""``fetch_models``: turn a model uri (local or ``gs://``) into local SavedModel directories, one per served version."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.cloud import storage

from app.storage import cache
from app.storage.client import CALL_TIMEOUT_SECONDS, make_client
from app.storage.gcs_download import download_objects
from app.storage.gcs_listing import RemoteModel, resolve_remote
from app.storage.layout import ResolvedModel
from app.storage.local import resolve_local
from app.storage.uris import is_gcs_uri, local_path
from app.versions import VersionPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Fetched:
    model: ResolvedModel
    files: int
    bytes: int
    served_from: str  # "local", "cache" or "download"


def fetch_models(
    uri: str,
    cache_dir: Path,
    policy: VersionPolicy,
    *,
    max_workers: int = 8,
    retries: int = 4,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = CALL_TIMEOUT_SECONDS,
    client: storage.Client | None = None,
) -> list[ResolvedModel]:
    """Resolve ``uri`` to local SavedModel directories, one per served version (lowest first), downloading remote ones
    into ``cache_dir``.

    ``uri`` is a local path (``file://`` allowed) or ``gs://bucket/prefix``, naming either a SavedModel (its one
    version is served) or a TF Serving base directory, whose numeric versions ``policy`` chooses from. Local models
    are used in place. Each remote version is downloaded in parallel, verified, and published atomically under a
    name that changes when its objects do, so an unchanged version is reused from the cache by every process.

    Every storage call gets ``timeout_seconds`` (connect, and between bytes) and up to ``retries`` attempts
    with exponential backoff from ``backoff_seconds``; 5xx, 429, timeouts, broken connections, missing
    objects and checksum mismatches are retried, and a model that never verifies is never published.
    Raises ``ModelLoadError`` when there is no model at ``uri`` (or a version the policy names is missing) and
    ``StorageError`` when storage fails.
    """
    mark = time.monotonic()
    versions: Sequence[RemoteModel | ResolvedModel]
    if is_gcs_uri(uri):
        gcs = client or make_client()
        versions = resolve_remote(
            gcs, uri, policy, retries=retries, backoff_seconds=backoff_seconds, timeout_seconds=timeout_seconds
        )
        fetch: Callable[[Any], _Fetched] = functools.partial(
            _fetch_gcs,
            cache_dir=cache_dir,
            client=gcs,
            max_workers=max_workers,
            retries=retries,
            backoff_seconds=backoff_seconds,
            timeout_seconds=timeout_seconds,
        )
    else:
        versions, fetch = resolve_local(local_path(uri), policy), _fetch_local
    models = []
    for version in versions:
        fetched = fetch(version)
        now = time.monotonic()
        logger.info(
            "model fetched: uri=%s version=%d files=%d bytes=%d seconds=%.2f served_from=%s path=%s",
            fetched.model.source_uri,
            fetched.model.version,
            fetched.files,
            fetched.bytes,
            now - mark,
            fetched.served_from,
            fetched.model.path,
        )
        mark = now
        models.append(fetched.model)
    return models


def fetch_model(uri: str, cache_dir: Path, **options: Any) -> ResolvedModel:
    """``fetch_models`` with TF Serving's default policy: the one highest version (or the SavedModel ``uri`` names)."""
    return fetch_models(uri, cache_dir, VersionPolicy(), **options)[0]


def _fetch_local(model: ResolvedModel) -> _Fetched:
    files = [path for path in model.path.rglob("*") if path.is_file()]
    return _Fetched(model, len(files), sum(path.stat().st_size for path in files), "local")


def _fetch_gcs(
    remote: RemoteModel,
    cache_dir: Path,
    *,
    client: storage.Client,
    max_workers: int,
    retries: int,
    backoff_seconds: float,
    timeout_seconds: float,
) -> _Fetched:
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
