"""Download a model version's objects in parallel, each one retried and checksum-verified."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from google.api_core import exceptions as api_exceptions
from google.cloud import storage

from app.storage.checksums import HashingWriter, verify
from app.storage.client import CALL_TIMEOUT_SECONDS, storage_errors
from app.storage.gcs_listing import RemoteObject
from app.storage.retry import TransientError, with_retries

logger = logging.getLogger(__name__)


class ObjectMissing(TransientError):
    """A listed object answered 404: deleted or re-uploaded since the listing (retried, then fatal)."""


def download_objects(
    client: storage.Client,
    bucket_name: str,
    objects: Sequence[RemoteObject],
    dest: Path,
    *,
    max_workers: int,
    retries: int,
    backoff_seconds: float,
    timeout_seconds: float = CALL_TIMEOUT_SECONDS,
) -> None:
    """Download every object to ``dest/<relative path>``; the first failure cancels the rest and is raised."""
    bucket = client.bucket(bucket_name)

    def download(obj: RemoteObject) -> None:
        uri = f"gs://{bucket_name}/{obj.name}"
        target = dest / obj.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with storage_errors("downloading", uri):
            with_retries(
                lambda: _download_once(bucket, obj, target, uri, timeout_seconds),
                what=f"download of {uri}",
                attempts=retries,
                backoff_seconds=backoff_seconds,
            )
        logger.debug("downloaded %s (%d bytes)", uri, obj.digests.size)

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="gcs-download") as pool:
        futures = [pool.submit(download, obj) for obj in objects]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()  # no-op for finished or running ones; queued ones never start
        for future in done:
            future.result()  # re-raises the first failure


def _download_once(bucket: storage.Bucket, obj: RemoteObject, target: Path, uri: str, timeout: float) -> None:
    # A fresh Blob per attempt: the client overwrites a Blob's metadata from response headers. Pinning the
    # listed generation means a concurrent re-upload fails this fetch instead of mixing two versions' files.
    blob = bucket.blob(obj.name, generation=obj.generation)
    # "wb" truncates: a retry never appends to the bytes of a failed attempt.
    with open(target, "wb") as file:
        writer = HashingWriter(file)
        try:
            # raw_download: the stored bytes, which the recorded digests describe. checksum=None: verified below
            # against the listing's metadata (size + CRC32C + MD5), not only the response's own hash header.
            # retry=None: with_retries is the one retry policy, so attempts stay bounded.
            blob.download_to_file(writer, raw_download=True, checksum=None, retry=None, timeout=timeout)
        except api_exceptions.NotFound as exc:
            raise ObjectMissing(
                f"{uri}: generation {obj.generation} not found, though it was just listed "
                "(was the model deleted or re-uploaded?)"
            ) from exc
    verify(uri, obj.digests, writer.digests())
