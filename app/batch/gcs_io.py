"""Batch inputs and outputs on Cloud Storage, through the same client, error messages and retries as model fetches."""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from google.api_core import exceptions as api_exceptions
from google.cloud import storage

from app.batch.io import CHUNK_BYTES, glob_regex, has_wildcard
from app.batch.shard import InputFile
from app.errors import StorageError
from app.storage.client import CALL_TIMEOUT_SECONDS, make_client, storage_errors
from app.storage.retry import describe, with_retries

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRIES = 4
BACKOFF_SECONDS = 0.5
CONTENT_TYPE = "application/jsonl"


class GcsBackend:
    """``gs://bucket/name`` uris; ``*`` and ``?`` stay within one ``/`` level, ``**`` crosses levels."""

    def __init__(self, client: storage.Client | None = None) -> None:
        self._client = client

    @property
    def client(self) -> storage.Client:
        if self._client is None:
            self._client = make_client()
        return self._client

    def list_inputs(self, pattern: str) -> list[InputFile]:
        bucket, name = _split(pattern)
        if not has_wildcard(name):
            blob = self._get_blob(pattern)
            if blob is None:
                raise StorageError(f"input {pattern} not found")
            return [_input(bucket, blob)]
        literal = name[: min(name.find(c) for c in "*?" if c in name)]
        regex = glob_regex(name)
        blobs = self._call(
            pattern,
            "listing",
            lambda: list(self.client.list_blobs(bucket, prefix=literal, retry=None, timeout=CALL_TIMEOUT_SECONDS)),
            not_found=f"bucket {bucket!r} does not exist",
        )
        files = [_input(bucket, blob) for blob in blobs if regex.fullmatch(blob.name) and not blob.name.endswith("/")]
        if not files:
            raise StorageError(f"no input object matches {pattern}")
        return sorted(files, key=lambda f: f.uri)

    def read(self, file: InputFile) -> Iterator[bytes]:
        # One range ahead: the next download runs (without the GIL) while this chunk's lines are predicted.
        starts = range(0, file.size, CHUNK_BYTES)
        if not starts:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcs-read") as pool:
            pending = pool.submit(self._read_range, file, starts[0])
            for start in starts[1:]:
                chunk = pending.result()
                pending = pool.submit(self._read_range, file, start)
                yield chunk
            yield pending.result()

    def _read_range(self, file: InputFile, start: int) -> bytes:
        bucket, name = _split(file.uri)
        # Pinned to the listed generation: an input replaced mid-job fails the task instead of mixing versions.
        blob = self.client.bucket(bucket).blob(name, generation=int(file.version))
        end = min(start + CHUNK_BYTES, file.size) - 1  # inclusive, as in HTTP ranges
        download = functools.partial(
            blob.download_as_bytes,
            start=start,
            end=end,
            raw_download=True,
            checksum=None,  # a range has no whole-object hash to check against
            retry=None,  # with_retries is the one retry policy, so attempts stay bounded
            timeout=CALL_TIMEOUT_SECONDS,
        )
        chunk = self._call(
            file.uri,
            "reading",
            download,
            not_found="not found: it was deleted or replaced after it was listed (inputs must not change "
            "while the job runs)",
        )
        if len(chunk) != end - start + 1:
            raise StorageError(f"reading {file.uri}: got {len(chunk)} bytes of range {start}-{end}")
        return chunk

    def size(self, uri: str) -> int | None:
        blob = self._get_blob(uri)
        return None if blob is None else int(blob.size or 0)

    def read_small(self, uri: str) -> bytes | None:
        bucket, name = _split(uri)
        blob = self.client.bucket(bucket).blob(name)

        def download() -> bytes | None:
            try:
                return blob.download_as_bytes(retry=None, timeout=CALL_TIMEOUT_SECONDS)
            except api_exceptions.NotFound:
                return None

        return self._call(uri, "reading", download)

    def spool_path(self, uri: str) -> Path:
        # In TMPDIR (on Cloud Run, memory): one task's output must fit there until it is uploaded.
        with tempfile.NamedTemporaryFile(prefix="batch-", suffix=".jsonl", delete=False) as handle:
            return Path(handle.name)

    def publish(self, spool: Path, uri: str) -> None:
        bucket, name = _split(uri)
        blob = self.client.bucket(bucket).blob(name)
        # A single upload is atomic: the object appears only once every byte arrived (and its CRC32C matched).
        # A retry re-sends the whole file, so it simply replaces the object with the same content.

        def upload() -> None:
            try:
                blob.upload_from_filename(
                    str(spool), content_type=CONTENT_TYPE, retry=None, timeout=CALL_TIMEOUT_SECONDS
                )
            except (api_exceptions.Forbidden, api_exceptions.Unauthorized) as exc:
                # storage_errors would name the role for reading models; a write needs another one.
                raise StorageError(
                    f"writing {uri}: permission denied ({describe(exc)}); the job's service account needs "
                    "roles/storage.objectUser on the output bucket or prefix"
                ) from exc

        try:
            self._call(uri, "writing", upload)
        finally:
            spool.unlink(missing_ok=True)

    def _get_blob(self, uri: str) -> storage.Blob | None:
        bucket, name = _split(uri)
        get = functools.partial(self.client.bucket(bucket).get_blob, name, retry=None, timeout=CALL_TIMEOUT_SECONDS)
        return self._call(uri, "reading", get)

    @staticmethod
    def _call(uri: str, action: str, fn: Callable[[], T], not_found: str = "not found") -> T:
        with storage_errors(action, uri, not_found=not_found):
            return with_retries(fn, what=f"{action} {uri}", attempts=RETRIES, backoff_seconds=BACKOFF_SECONDS)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not bucket or not name:
        raise StorageError(f"not a gs:// object uri: {uri!r} (expected gs://bucket/name)")
    return bucket, name


def _input(bucket: str, blob: storage.Blob) -> InputFile:
    uri = f"gs://{bucket}/{blob.name}"
    if blob.content_encoding == "gzip":
        raise StorageError(f"cannot read {uri}: it is stored gzip-encoded; upload inputs without -z/-Z")
    return InputFile(uri=uri, size=int(blob.size or 0), version=str(blob.generation))
