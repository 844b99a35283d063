"""Parse model uris: ``gs://bucket/prefix`` or a local path (optionally ``file://``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.errors import StorageError

GCS_SCHEME = "gs://"
FILE_SCHEME = "file://"


@dataclass(frozen=True)
class GcsLocation:
    """A "directory" in a bucket. ``prefix`` is empty (bucket root) or ends with ``/``."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """The canonical ``gs://bucket/prefix`` form, without a trailing slash."""
        return f"{GCS_SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def name(self) -> str:
        """Last path component of the prefix ("" at the bucket root)."""
        return self.prefix.rstrip("/").rpartition("/")[2]

    def child(self, name: str) -> GcsLocation:
        """The sub-directory ``name`` of this location."""
        return GcsLocation(self.bucket, f"{self.prefix}{name.strip('/')}/")


def is_gcs_uri(uri: str) -> bool:
    """True for ``gs://`` uris."""
    return uri.startswith(GCS_SCHEME)


def parse_gcs_uri(uri: str) -> GcsLocation:
    """Split ``gs://bucket/some/prefix[/]`` into bucket and a ``/``-terminated prefix."""
    bucket, _, prefix = uri.removeprefix(GCS_SCHEME).partition("/")
    if not is_gcs_uri(uri) or not bucket:
        raise StorageError(f"not a gs:// uri: {uri!r} (expected gs://bucket/prefix)")
    prefix = "/".join(part for part in prefix.split("/") if part)
    return GcsLocation(bucket, f"{prefix}/" if prefix else "")


def local_path(uri: str) -> Path:
    """The absolute local path a (``file://``-prefixed, relative or ``~``) uri names."""
    if uri.startswith(FILE_SCHEME):
        uri = uri[len(FILE_SCHEME) :]
    return Path(uri).expanduser().resolve()
