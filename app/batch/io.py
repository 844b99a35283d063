"""Where batch inputs come from and outputs go: one small interface, for local paths and for ``gs://`` uris.

Inputs are listed once (name order, sizes and versions fixed at listing time) and read in chunks of at most the
listed size, so every task sees the same bytes. Outputs are written to a local spool file and then published
under their final name in one atomic step (``os.replace`` locally; a single object upload on GCS, which is
visible only once complete), so a crashed task never leaves a partial file under a final name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Protocol

from app.batch.shard import InputFile
from app.storage.uris import is_gcs_uri

CHUNK_BYTES = 8 * 1024 * 1024
"""Bytes per read: large enough for throughput, small enough that a task never holds much of a file."""

WILDCARDS = "*?"


class Backend(Protocol):
    """Listing, reading and atomic publishing on one kind of storage."""

    def list_inputs(self, pattern: str) -> list[InputFile]:
        """The files ``pattern`` (a path or uri, with ``*``, ``**`` or ``?``) names, sorted; raises if none."""
        ...

    def read(self, file: InputFile) -> Iterator[bytes]:
        """The first ``file.size`` bytes of ``file``, in chunks."""
        ...

    def size(self, uri: str) -> int | None:
        """Size of the file at ``uri``, or None when there is none."""
        ...

    def read_small(self, uri: str) -> bytes | None:
        """The whole (small) file at ``uri``, or None when there is none."""
        ...

    def spool_path(self, uri: str) -> Path:
        """A new, empty local temporary file to write ``uri``'s content into before ``publish``."""
        ...

    def publish(self, spool: Path, uri: str) -> None:
        """Make ``spool``'s content appear at ``uri`` in one step, replacing what was there; consumes ``spool``."""
        ...


def backend_for(uri: str) -> Backend:
    """The backend for a ``gs://`` uri or a local path (one shared instance of each per process)."""
    return _gcs() if is_gcs_uri(uri) else _local()


@cache
def _gcs() -> Backend:
    from app.batch.gcs_io import GcsBackend  # google-cloud-storage is imported only when a gs:// uri is used

    return GcsBackend()


@cache
def _local() -> Backend:
    from app.batch.local_io import LocalBackend

    return LocalBackend()


def has_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` names files by wildcard rather than one exact path."""
    return any(char in pattern for char in WILDCARDS)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob over ``/``-separated names: ``**`` crosses ``/``, ``*`` and ``?`` do not."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wild = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(part, re.escape(part)) for part in parts))
