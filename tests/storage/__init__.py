"""Storage tests. ``write_fake_saved_model`` is shared by the local and GCS tests."""

from __future__ import annotations

from pathlib import Path

FAKE_MODEL_FILES = (
    "saved_model.pb",
    "fingerprint.pb",
    "variables/variables.index",
    "variables/variables.data-00000-of-00001",
    "assets/vocab/words.txt",
    "assets/empty.txt",
)


def write_fake_saved_model(directory: Path, tag: str = "") -> dict[str, bytes]:
    """Write a SavedModel-shaped directory (storage never parses it); return ``{relative path: bytes}``.

    ``tag`` changes every file's content, to tell versions and re-uploads apart.
    """
    files: dict[str, bytes] = {}
    for index, relative in enumerate(FAKE_MODEL_FILES):
        data = b"" if relative.endswith("empty.txt") else f"{relative}:{tag}:".encode() + bytes(range(256)) * index
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[relative] = data
    return files


def read_tree(directory: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file below ``directory`` (hidden bookkeeping files excluded)."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
