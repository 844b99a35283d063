"""Batch inputs and outputs on the local filesystem (a mounted volume, or a developer's disk)."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.batch.io import CHUNK_BYTES, has_wildcard
from app.batch.shard import InputFile
from app.errors import StorageError


class LocalBackend:
    """Local paths; wildcards follow Python's ``glob`` (``**`` for any depth; hidden files are not matched)."""

    def list_inputs(self, pattern: str) -> list[InputFile]:
        pattern = os.path.abspath(os.path.expanduser(pattern))
        if has_wildcard(pattern):
            paths = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not paths:
                raise StorageError(f"no input file matches {pattern}")
        elif os.path.isfile(pattern):
            paths = [pattern]
        else:
            raise StorageError(f"input {pattern} not found (expected a file or a pattern such as DIR/*.jsonl)")
        return [self._describe(path) for path in paths]

    @staticmethod
    def _describe(path: str) -> InputFile:
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise StorageError(f"reading {path}: {exc.strerror}") from exc
        return InputFile(uri=path, size=stat.st_size, version=str(stat.st_mtime_ns))

    def read(self, file: InputFile) -> Iterator[bytes]:
        try:
            with open(file.uri, "rb") as handle:
                left = file.size  # bytes appended after the listing belong to no task: never read them
                while left > 0:
                    chunk = handle.read(min(CHUNK_BYTES, left))
                    if not chunk:
                        raise StorageError(f"reading {file.uri}: it shrank since it was listed")
                    left -= len(chunk)
                    yield chunk
        except OSError as exc:
            raise StorageError(f"reading {file.uri}: {exc.strerror}") from exc

    def size(self, uri: str) -> int | None:
        try:
            return os.stat(uri).st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"reading {uri}: {exc.strerror}") from exc

    def read_small(self, uri: str) -> bytes | None:
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"reading {uri}: {exc.strerror}") from exc

    def spool_path(self, uri: str) -> Path:
        # Next to the final file (same filesystem, so the rename is atomic), hidden from DIR/*.jsonl patterns.
        final = Path(uri)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        except OSError as exc:
            raise StorageError(f"writing {uri}: {exc.strerror}") from exc
        os.close(fd)
        return Path(name)

    def publish(self, spool: Path, uri: str) -> None:
        try:
            with open(spool, "rb") as handle:
                os.fsync(handle.fileno())  # the content is on disk before the name points at it
            os.chmod(spool, 0o644)  # mkstemp makes it 0600; a result file should read like any other file
            os.replace(spool, uri)
        except OSError as exc:
            spool.unlink(missing_ok=True)
            raise StorageError(f"writing {uri}: {exc.strerror}") from exc
