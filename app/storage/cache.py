"""A local cache of downloaded models, safe for several processes sharing one directory.

Layout of ``cache_dir`` (must be a local filesystem: ``flock`` and ``rename`` have to be atomic)::

    <name>/               a complete model: its files plus MARKER (a JSON manifest)
    .partial/<name>.XXXX  a download in flight; renamed to <name> once complete
    .locks/<name>.lock    held (flock) by the one process filling <name>

A directory only gets its final name after every file and the marker are written, so a reader that finds
``<name>/.complete`` sees a whole model; ``os.rename`` within one filesystem is atomic.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MARKER = ".complete"
PARTIAL_DIR = ".partial"
LOCK_DIR = ".locks"

Manifest = dict[str, Any]
"""JSON-able description of a cache entry; ``files`` lists ``{"path": relative, "size": bytes}`` objects."""


def entry_name(label: str, fingerprint: str) -> str:
    """A cache entry's directory name: ``<label as a slug>-<fingerprint>``.

    The (hex) fingerprint makes it unique. The name has no dots, so the ``<name>.XXXX`` partial dirs of
    one entry are never mistaken for another's.
    """
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")[:120]
    return f"{slug}-{fingerprint}"


def fetch_cached(cache_dir: Path, name: str, manifest: Manifest, fill: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return ``(cache_dir/name, served_from_cache)``; call ``fill(empty_dir)`` only if no valid copy exists.

    Processes racing on the same name serialise on a lock file: one fills, the others wait and reuse it.
    """
    final = cache_dir / name
    if _is_complete(final):
        return final, True
    with _locked(lock_path(cache_dir, name)):
        if _is_complete(final):
            return final, True
        _build(cache_dir, final, manifest, fill)
        return final, False


def lock_path(cache_dir: Path, name: str) -> Path:
    """The lock file guarding entry ``name``."""
    return cache_dir / LOCK_DIR / f"{name}.lock"


def _is_complete(directory: Path) -> bool:
    """The marker is there and every file it lists has its recorded size."""
    try:
        manifest = json.loads((directory / MARKER).read_text())
        return all((directory / f["path"]).stat().st_size == f["size"] for f in manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process to finish %s", path.stem)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _build(cache_dir: Path, final: Path, manifest: Manifest, fill: Callable[[Path], None]) -> None:
    """Fill a fresh partial dir, write the marker, then rename it into place. Caller holds the lock."""
    partial_root = cache_dir / PARTIAL_DIR
    partial_root.mkdir(parents=True, exist_ok=True)
    # Holding the lock means nobody else is filling this name: any partial dir for it is a crashed leftover.
    for stale in partial_root.glob(f"{final.name}.*"):
        logger.warning("removing unfinished download %s", stale)
        shutil.rmtree(stale, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{final.name}.", dir=partial_root))
    try:
        fill(partial)
        (partial / MARKER).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.chmod(partial, 0o755)  # mkdtemp makes it 0700; a model dir should read like any other directory
        if final.exists():  # an entry that failed validation (files deleted or truncated)
            logger.warning("replacing incomplete cache entry %s", final)
            shutil.rmtree(final)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
