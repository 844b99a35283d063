"""Where a SavedModel sits under a model uri: the TF Serving layout rules, shared by local and GCS storage.

A uri names either a SavedModel directory (it holds ``saved_model.pb`` or ``saved_model.pbtxt``), served as its one
version, or a TF Serving base directory whose all-digit children are versions: the version policy chooses among
those holding a SavedModel (by default the highest).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.errors import ModelLoadError
from app.versions import VersionPolicy

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
    """The version it is served as."""
    source_uri: str
    """The exact uri of the version directory that was resolved (local path or gs://...)."""


def version_of(name: str) -> int | None:
    """Return the version a directory name stands for, or None when it is not all ASCII digits."""
    return int(name) if _DIGITS.fullmatch(name) else None


def own_version(name: str) -> int:
    """Version of a SavedModel directory served directly: its name if numeric, else 1."""
    version = version_of(name)
    return 1 if version is None else version


def log_single_version(uri: str, version: int, policy: VersionPolicy) -> None:
    """Say that a uri naming one SavedModel leaves a non-default policy nothing to choose."""
    if policy != VersionPolicy():
        logger.warning(
            "%s is a SavedModel, not a base directory of versions: serving it as version %d; "
            "MODEL_VERSION_POLICY=%s has nothing to choose from",
            uri,
            version,
            policy,
        )


def pick_versions(
    uri: str, children: Iterable[str], has_saved_model: Callable[[str], bool], policy: VersionPolicy
) -> list[tuple[str, int]]:
    """The ``(child, version)`` pairs of the base directory ``uri`` that ``policy`` serves, lowest version first.

    Only numeric children holding a SavedModel count (a version still being written is skipped). ``latest:N`` asks
    ``has_saved_model(child)`` highest first until N answered yes, so a remote store makes one request per skipped
    version rather than one per version. Raises ``ModelLoadError`` when nothing qualifies, or when a ``specific``
    version is missing or holds no SavedModel.
    """
    numeric: list[tuple[int, str]] = []
    for child in children:
        version = version_of(child)
        if version is None:
            logger.debug("ignoring %s/%s: not a numeric version directory", uri, child)
        else:
            numeric.append((version, child))
    wanted = set(policy.versions) if policy.kind == "specific" else None
    limit = policy.count if policy.kind == "latest" else len(numeric)
    chosen: dict[int, str] = {}
    for version, child in sorted(numeric, reverse=True):
        if len(chosen) == limit:
            break
        if version in chosen or (wanted is not None and version not in wanted):
            continue  # "007" after "7", say: TF Serving also loads one directory per version
        if has_saved_model(child):
            chosen[version] = child
        else:
            logger.debug("ignoring version %s/%s: no %s in it", uri, child, " or ".join(SAVED_MODEL_FILES))
    missing = sorted((wanted or set()) - set(chosen))
    if missing:
        found = ", ".join(str(v) for v in sorted({v for v, _ in numeric})) or "none"
        raise ModelLoadError(
            f"MODEL_VERSION_POLICY={policy}: no SavedModel for version {missing[0]} at {uri.rstrip('/')}/"
            f"{missing[0]}/ (numeric version directories there: {found})"
        )
    if not chosen:
        raise no_model_error(uri)
    return [(chosen[version], version) for version in sorted(chosen)]


def no_model_error(uri: str, reason: str = "") -> ModelLoadError:
    """The one message for "nothing to serve here", naming the uri and what was expected."""
    base = uri.rstrip("/")
    detail = f" ({reason})" if reason else ""
    return ModelLoadError(
        f"no SavedModel at {uri}{detail}: expected saved_model.pb or numeric version subdirectories like {base}/1/"
    )
