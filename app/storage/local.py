"""Resolve a model on the local filesystem. Nothing is copied: the directories are served in place."""

from __future__ import annotations

from pathlib import Path

from app.storage.layout import (
    SAVED_MODEL_FILES,
    ResolvedModel,
    log_single_version,
    no_model_error,
    own_version,
    pick_versions,
)
from app.versions import VersionPolicy


def has_saved_model(directory: Path) -> bool:
    """True when ``directory`` holds saved_model.pb or saved_model.pbtxt."""
    return any((directory / name).is_file() for name in SAVED_MODEL_FILES)


def resolve_local(path: Path, policy: VersionPolicy) -> list[ResolvedModel]:
    """The SavedModels at ``path`` (absolute): the directory itself, or the versions ``policy`` picks below it."""
    if not path.is_dir():
        reason = "not a directory" if path.exists() else "directory does not exist"
        raise no_model_error(str(path), reason)
    if has_saved_model(path):
        log_single_version(str(path), own_version(path.name), policy)
        return [ResolvedModel(path=path, version=own_version(path.name), source_uri=str(path))]
    children = [child.name for child in path.iterdir() if child.is_dir()]
    picked = pick_versions(str(path), children, lambda child: has_saved_model(path / child), policy)
    return [ResolvedModel(path=path / name, version=version, source_uri=str(path / name)) for name, version in picked]
