"""Resolve a model on the local filesystem. Nothing is copied: the directory is served in place."""

from __future__ import annotations

from pathlib import Path

from app.storage.layout import SAVED_MODEL_FILES, ResolvedModel, no_model_error, own_version, pick_version


def has_saved_model(directory: Path) -> bool:
    """True when ``directory`` holds saved_model.pb or saved_model.pbtxt."""
    return any((directory / name).is_file() for name in SAVED_MODEL_FILES)


def resolve_local(path: Path) -> ResolvedModel:
    """Find the SavedModel at ``path`` (absolute): the directory itself or its highest numeric version."""
    if not path.is_dir():
        reason = "not a directory" if path.exists() else "directory does not exist"
        raise no_model_error(str(path), reason)
    if has_saved_model(path):
        return ResolvedModel(path=path, version=own_version(path.name), source_uri=str(path))
    children = [child.name for child in path.iterdir() if child.is_dir()]
    name, version = pick_version(str(path), children, lambda child: has_saved_model(path / child))
    return ResolvedModel(path=path / name, version=version, source_uri=str(path / name))
