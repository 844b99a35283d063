"""Where a SavedModel sits under a model uri: the TF Serving layout rules, shared by local and GCS storage.

A uri names either a SavedModel directory (it holds ``saved_model.pb`` or ``saved_model.pbtxt``) or a
TF Serving base directory whose all-digit children are versions: the highest one holding a SavedModel wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.errors import ModelLoadError

logger = logging.getLogger(__name__)

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""A directory is a SavedModel when it holds one of these files."""

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ResolvedModel:
    """A SavedModel ready to load from local disk."""

    path: Path
    """Local directory that contains saved_model.pb (or saved_model.pbtxt)."""
    version: int
    """The version being served."""
    source_uri: str
    """The exact uri of the version directory that was resolved (local path or gs://...)."""


def version_of(name: str) -> int | None:
    """Return the version a directory name stands for, or None when it is not all ASCII digits."""
    return int(name) if _DIGITS.fullmatch(name) else None


def own_version(name: str) -> int:
    """Version of a SavedModel directory served directly: its name if numeric, else 1."""
    version = version_of(name)
    return 1 if version is None else version


def pick_version(uri: str, children: Iterable[str], has_saved_model: Callable[[str], bool]) -> tuple[str, int]:
    """Choose the highest numeric child of the base directory ``uri`` that holds a SavedModel.

    ``has_saved_model(child)`` is only asked for numeric children, highest first, until one answers yes, so a
    remote store makes one request per skipped version rather than one per version.
    Raises ``ModelLoadError`` when no child qualifies.
    """
    numeric: list[tuple[int, str]] = []
    for child in children:
        version = version_of(child)
        if version is None:
            logger.debug("ignoring %s/%s: not a numeric version directory", uri, child)
        else:
            numeric.append((version, child))
    for version, child in sorted(numeric, reverse=True):
        if has_saved_model(child):
            return child, version
        logger.debug("ignoring version %s/%s: no %s in it", uri, child, " or ".join(SAVED_MODEL_FILES))
    raise no_model_error(uri)


def no_model_error(uri: str, reason: str = "") -> ModelLoadError:
    """The one message for "nothing to serve here", naming the uri and what was expected."""
    base = uri.rstrip("/")
    detail = f" ({reason})" if reason else ""
    return ModelLoadError(
        f"no SavedModel at {uri}{detail}: expected saved_model.pb or numeric version subdirectories like {base}/1/"
    )
