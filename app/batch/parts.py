"""A task's output files, how they are written, and the marker that says they are complete.

Task ``k`` of ``n`` writes, in this order and each in one atomic step:

1. ``ERRORS/part-0000k-of-0000n.jsonl``  - ``{"file", "line", "error"}`` for every line that got no prediction;
2. ``OUTPUT/part-0000k-of-0000n.jsonl``  - ``{"file", "line", "prediction"}`` for every other non-blank line;
3. ``OUTPUT/part-0000k-of-0000n.done``   - the marker: counts, sizes, and a fingerprint of the run.

The marker is written last, so it exists only if both files are complete. A task that finds a marker with its
own fingerprint and both files at the recorded sizes skips its work; a crashed or re-run task redoes all of its
shard and overwrites the files with the same lines, so no line is ever lost or written twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.batch.io import backend_for
from app.batch.settings import BatchSettings
from app.batch.shard import InputFile
from app.errors import StorageError

log = logging.getLogger(__name__)


class OutputConflict(StorageError):
    """The output location holds the results of a different run (other inputs, model or task count)."""


@dataclass(frozen=True)
class Parts:
    """The final names of one task's files."""

    output: str
    errors: str
    marker: str

    @classmethod
    def of(cls, settings: BatchSettings) -> Parts:
        name = f"part-{settings.task_index:05d}-of-{settings.task_count:05d}"
        return cls(
            output=f"{settings.output}/{name}.jsonl",
            errors=f"{settings.errors}/{name}.jsonl",
            marker=f"{settings.output}/{name}.done",
        )


def fingerprint(files: Sequence[InputFile], settings: BatchSettings) -> str:
    """What makes two runs the same run: the inputs as listed, the model, the signature, the number of tasks."""
    run = {
        "inputs": [[f.uri, f.size, f.version] for f in files],
        "model_uri": settings.model_uri,
        "signature": settings.signature or "",
        "task_count": settings.task_count,
    }
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:32]


def completed(parts: Parts, run_fingerprint: str) -> dict[str, Any] | None:
    """The marker of a complete earlier attempt of this task, or None if the work has to be done.

    Raises ``OutputConflict`` when the marker belongs to a different run: mixing the two runs' files under one
    prefix would be silently wrong, so the task stops and asks for a new ``--output``.
    """
    raw = backend_for(parts.marker).read_small(parts.marker)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        recorded = record["fingerprint"], record["output_bytes"], record["errors_bytes"]
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable marker %s: redoing the task", parts.marker)
        return None
    if recorded[0] != run_fingerprint:
        raise OutputConflict(
            f"{parts.marker} records a different run (other inputs, model, signature or task count); "
            "write to a new --output prefix, or delete the old results first"
        )
    sizes = backend_for(parts.output).size(parts.output), backend_for(parts.errors).size(parts.errors)
    if sizes != recorded[1:]:
        log.warning("%s exists but its files are missing or changed: redoing the task", parts.marker)
        return None
    return record


def write_marker(parts: Parts, record: dict[str, Any]) -> None:
    """Publish the marker (after both files)."""
    with PartWriter(parts.marker) as writer:
        writer.write(json.dumps(record, indent=2, sort_keys=True).encode())
        writer.publish()


class PartWriter:
    """Lines for one final file, spooled locally and published under the final name in one step."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.lines = 0
        self._backend = backend_for(uri)
        self._path = self._backend.spool_path(uri)
        self._file = open(self._path, "wb", buffering=1024 * 1024)  # noqa: SIM115 - closed by publish/discard
        self._published = False

    def write(self, line: bytes) -> None:
        self._file.write(line)
        self._file.write(b"\n")
        self.lines += 1

    def publish(self) -> int:
        """Move the complete file to its final name; return its size in bytes."""
        self._file.close()
        size = self._path.stat().st_size
        self._backend.publish(self._path, self.uri)
        self._published = True
        return size

    def discard(self) -> None:
        self._file.close()
        if not self._published:
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()
