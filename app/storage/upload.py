"""Upload a local directory (an exported SavedModel, say) to ``gs://bucket/prefix``, in parallel."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.cloud import storage

from app.errors import StorageError
from app.storage.client import CALL_TIMEOUT_SECONDS, make_client, storage_errors
from app.storage.retry import with_retries
from app.storage.uris import parse_gcs_uri

logger = logging.getLogger(__name__)


def upload_directory(
    local_dir: Path,
    uri: str,
    *,
    client: storage.Client | None = None,
    max_workers: int = 8,
    retries: int = 4,
    backoff_seconds: float = 0.5,
) -> int:
    """Upload every file below ``local_dir`` to ``uri/<relative path>``; return how many were uploaded."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise StorageError(f"cannot upload {local_dir}: not a directory")
    location = parse_gcs_uri(uri)
    bucket = (client or make_client()).bucket(location.bucket)
    files = sorted(path for path in local_dir.rglob("*") if path.is_file())

    def upload(path: Path) -> None:
        name = location.prefix + path.relative_to(local_dir).as_posix()
        # The client sends a CRC32C with the upload and the server rejects a mismatch.
        with storage_errors("uploading to", f"gs://{location.bucket}/{name}"):
            with_retries(
                lambda: bucket.blob(name).upload_from_filename(str(path), timeout=CALL_TIMEOUT_SECONDS, retry=None),
                what=f"upload of {path}",
                attempts=retries,
                backoff_seconds=backoff_seconds,
            )

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="gcs-upload") as pool:
        list(pool.map(upload, files))
    logger.info("uploaded %d files from %s to %s", len(files), local_dir, location.uri)
    return len(files)
