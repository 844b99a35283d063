"""Verify downloaded objects against the size, CRC32C and MD5 that GCS records for them.

GCS stores a CRC32C for every object and an MD5 for non-composite ones, both base64 of the big-endian digest.
The digests are computed while the bytes are written, so a multi-GB variables file is not read twice.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Protocol

import google_crc32c

from app.storage.retry import TransientError


class Writable(Protocol):
    """Anything with a binary ``write`` (an open file)."""

    def write(self, data: bytes, /) -> int: ...


class ChecksumMismatch(TransientError):
    """A downloaded object does not match its recorded size or digests (retried, then fatal)."""


@dataclass(frozen=True)
class Digests:
    """Size and base64 digests of an object; a digest is None when the store does not record it."""

    size: int
    crc32c: str | None = None
    md5: str | None = None


class HashingWriter:
    """A write-only file wrapper that computes size, CRC32C and MD5 of everything written through it."""

    def __init__(self, file: Writable) -> None:
        self._file = file
        self._crc32c = google_crc32c.Checksum()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0

    def write(self, data: bytes) -> int:
        """Write ``data`` to the file and fold it into the digests."""
        self._crc32c.update(data)
        self._md5.update(data)
        self._size += len(data)
        return self._file.write(data)

    def digests(self) -> Digests:
        """The digests of everything written so far, in GCS's base64 form."""
        return Digests(
            size=self._size,
            crc32c=base64.b64encode(self._crc32c.digest()).decode("ascii"),
            md5=base64.b64encode(self._md5.digest()).decode("ascii"),
        )


def digests_of(data: bytes) -> Digests:
    """Digests of an in-memory byte string (handy for checks and tests)."""
    writer = HashingWriter(_NullFile())
    writer.write(data)
    return writer.digests()


def verify(what: str, expected: Digests, actual: Digests) -> None:
    """Raise ``ChecksumMismatch`` naming ``what`` unless ``actual`` matches every digest in ``expected``."""
    checks = [("size", expected.size, actual.size)]
    if expected.crc32c is not None:
        checks.append(("crc32c", expected.crc32c, actual.crc32c))
    if expected.md5 is not None:
        checks.append(("md5", expected.md5, actual.md5))
    for field, want, got in checks:
        if want != got:
            raise ChecksumMismatch(f"{what}: {field} mismatch (expected {want}, got {got})")


class _NullFile:
    def write(self, data: bytes) -> int:
        return len(data)
