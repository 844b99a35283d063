"""Which input lines one task owns, and reading exactly those lines. Pure logic: no storage, no TensorFlow.

The rule: put the input files end to end in name order and cut the resulting byte stream into ``count`` equal
ranges; task ``k`` owns every line whose **first byte** lies in its range ``[k*B//count, (k+1)*B//count)``
(``B``: total bytes). Every line starts at exactly one offset, and the ranges tile ``[0, B)``, so each line
belongs to exactly one task, whatever the number of files, their sizes, or the number of tasks. A task reads
its lines to their end even when they run past its range, and skips the piece of a line that started before.

Line numbers are 1-based within their file. A task whose range starts inside a file reads that file from its
start and counts the newlines before its range (``bytes.count``, not line by line) to number its first line.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class InputFile:
    """One input file as listed: where it is, how big it is, and which version of it was listed."""

    uri: str
    size: int
    version: str = ""
    """Identifies the content: a GCS object's generation, a local file's modification time."""


@dataclass(frozen=True)
class Slice:
    """The part of one file a task owns: lines starting at a byte offset in ``[start, end)``."""

    file: InputFile
    start: int
    end: int


class Line(NamedTuple):
    """One owned line: its file, 1-based line number, and raw bytes without the newline."""

    # A tuple rather than a dataclass: one is made per input line, and tuples are the cheapest to make.
    uri: str
    number: int
    data: bytes


ChunkReader = Callable[[InputFile], Iterable[bytes]]
"""``read(file)`` yields the file's bytes from its start, in chunks of any size; it may be abandoned early."""


def plan(files: Sequence[InputFile], index: int, count: int) -> list[Slice]:
    """The slices task ``index`` of ``count`` owns, in file order (``files`` must be in the same order everywhere)."""
    if not 0 <= index < count:
        raise ValueError(f"task index {index} is outside [0, {count})")
    total = sum(f.size for f in files)
    low, high = index * total // count, (index + 1) * total // count
    slices, base = [], 0
    for file in files:
        start, end = max(low - base, 0), min(high - base, file.size)
        if start < end:
            slices.append(Slice(file, start, end))
        base += file.size
    return slices


def owned_lines(slices: Iterable[Slice], read: ChunkReader) -> Iterator[Line]:
    """Every line whose first byte lies in one of ``slices``, in order."""
    for piece in slices:
        yield from _slice_lines(piece, read)


def _slice_lines(piece: Slice, read: ChunkReader) -> Iterator[Line]:
    chunks: Iterator[bytes] = iter(read(piece.file))
    number, position = 1, 0  # of the next line to start
    if piece.start > 0:
        # A line starts at piece.start or later right after a newline at piece.start - 1 or later.
        chunks, newlines, position = _skip_past_newline(chunks, piece.start - 1)
        number += newlines
    for data in _split_lines(chunks):
        if position >= piece.end:
            return
        yield Line(piece.file.uri, number, data)
        number += 1
        position += len(data) + 1


def _skip_past_newline(chunks: Iterator[bytes], offset: int) -> tuple[Iterator[bytes], int, int]:
    """Consume ``chunks`` through the first newline at ``offset`` or later.

    Returns the rest of the stream, the newlines consumed (counted with ``bytes.count``, not line by line) and
    the position after them. Without such a newline the rest is empty: no line starts at ``offset`` or later.
    """
    seen = newlines = 0
    for chunk in chunks:
        skip = max(offset - seen, 0)
        if skip >= len(chunk):
            newlines += chunk.count(b"\n")
        else:
            newlines += chunk.count(b"\n", 0, skip)
            cut = chunk.find(b"\n", skip)
            if cut >= 0:
                return itertools.chain([chunk[cut + 1 :]], chunks), newlines + 1, seen + cut + 1
        seen += len(chunk)
    return iter(()), newlines, seen


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of a byte stream, without their newline; a final newline does not start another line."""
    pending: list[bytes] = []
    for chunk in chunks:
        if b"\n" not in chunk:
            pending.append(chunk)
            continue
        parts = chunk.split(b"\n")
        parts[0] = b"".join((*pending, parts[0]))
        pending = [parts.pop()]
        yield from parts
    tail = b"".join(pending)
    if tail:
        yield tail
