"""Sharding: N tasks together read every line exactly once, in order, with the right line numbers.

Exhaustive over small cases and seeded-random over larger ones (plain loops: deterministic and quick), with
chunk sizes from 1 byte up so every way a line, a newline or a range boundary can fall across chunks is hit.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

from app.batch.shard import InputFile, Line, owned_lines, plan


def make_reader(contents: dict[str, bytes], chunk_size: int):
    """A ChunkReader over in-memory files, yielding ``chunk_size``-byte chunks."""

    def read(file: InputFile) -> Iterator[bytes]:
        data = contents[file.uri]
        for offset in range(0, len(data), chunk_size):
            yield data[offset : offset + chunk_size]

    return read


def expected_lines(contents: dict[str, bytes]) -> list[Line]:
    """Every line of every file, the obvious way."""
    lines = []
    for uri, data in contents.items():
        parts = data.split(b"\n")
        if parts[-1] == b"":  # a final newline (or an empty file) does not start another line
            parts.pop()
        lines += [Line(uri, number, part) for number, part in enumerate(parts, start=1)]
    return lines


def run_all_tasks(contents: dict[str, bytes], count: int, chunk_size: int) -> list[list[Line]]:
    files = [InputFile(uri, len(data)) for uri, data in contents.items()]
    read = make_reader(contents, chunk_size)
    return [list(owned_lines(plan(files, index, count), read)) for index in range(count)]


def assert_partition(contents: dict[str, bytes], count: int, chunk_size: int) -> None:
    shards = run_all_tasks(contents, count, chunk_size)
    # Concatenated in task order, the shards are exactly the input lines in order: nothing lost, nothing twice.
    assert [line for shard in shards for line in shard] == expected_lines(contents), (contents, count, chunk_size)


def random_file(rng: random.Random) -> bytes:
    kinds = rng.choice(["empty", "lines", "blank-lines", "one-long-line", "no-final-newline"])
    if kinds == "empty":
        return b""
    lines = [b"x" * rng.randint(0, 12) + str(i).encode() for i in range(rng.randint(1, 30))]
    if kinds == "blank-lines":
        lines = [line if rng.random() < 0.6 else b"" for line in lines]
    if kinds == "one-long-line":
        lines = [b"y" * rng.randint(50, 400)]
    data = b"\n".join(lines)
    return data if kinds == "no-final-newline" else data + b"\n"


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_small_inputs_every_layout(count: int) -> None:
    # Every file made of up to 5 bytes from {a, \n}, alone and paired with another: all boundary placements.
    small = [b"".join(p) for n in range(6) for p in itertools.product([b"a", b"\n"], repeat=n)]
    for first in small:
        for chunk_size in (1, 2, 3):
            assert_partition({"f0": first}, count, chunk_size)
            assert_partition({"f0": first, "f1": b"b\ncc\n"}, count, chunk_size)


def test_many_random_combinations() -> None:
    rng = random.Random(20240607)
    for _ in range(600):
        files = {f"gs://b/in/{i:03d}.jsonl": random_file(rng) for i in range(rng.randint(1, 6))}
        count = rng.choice([1, 2, 3, 5, 8, 13, 40])  # fewer files than tasks, as many, and more
        assert_partition(files, count, chunk_size=rng.choice([1, 2, 5, 17, 64, 4096]))


def test_more_tasks_than_lines_leaves_some_tasks_empty() -> None:
    shards = run_all_tasks({"a": b"1\n2\n"}, 10, 8)
    assert sum(len(shard) for shard in shards) == 2
    assert sum(1 for shard in shards if shard) == 2


def test_lines_that_cross_a_range_boundary_belong_to_the_task_where_they_start() -> None:
    data = b"aaaa\nbbbb\n"  # 10 bytes, two tasks: ranges [0, 5) and [5, 10)
    first, second = run_all_tasks({"f": data}, 2, 3)
    assert first == [Line("f", 1, b"aaaa")]
    assert second == [Line("f", 2, b"bbbb")]
    # One task owns both lines when the second range starts inside the first line.
    first, second = run_all_tasks({"f": b"aaaaaaaa\nb\n"}, 2, 4)
    assert [line.number for line in first] == [1]
    assert [line.number for line in second] == [2]


def test_plan_balances_bytes_and_splits_files_only_when_needed() -> None:
    files = [InputFile(f"f{i}", 100) for i in range(4)]
    # As many tasks as equal files: one whole file each.
    assert [[(s.file.uri, s.start, s.end) for s in plan(files, k, 4)] for k in range(4)] == [
        [("f0", 0, 100)],
        [("f1", 0, 100)],
        [("f2", 0, 100)],
        [("f3", 0, 100)],
    ]
    # Fewer files than tasks: ranges inside files.
    assert [(s.file.uri, s.start, s.end) for s in plan(files[:1], 1, 3)] == [("f0", 33, 66)]


def test_plan_rejects_a_bad_index() -> None:
    with pytest.raises(ValueError, match="outside"):
        plan([InputFile("f", 1)], 2, 2)
