"""Resolving models on the local filesystem: SavedModel dirs, TF Serving base dirs, and clear failures."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import ModelLoadError
from app.storage import ResolvedModel, fetch_model
from tests.storage import write_fake_saved_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_savedmodel_dir_is_served_in_place_as_version_1(tmp_path: Path) -> None:
    model_dir = tmp_path / "my_model"
    write_fake_saved_model(model_dir)

    resolved = fetch_model(str(model_dir), tmp_path / "cache")

    assert resolved == ResolvedModel(path=model_dir, version=1, source_uri=str(model_dir))
    assert not (tmp_path / "cache").exists()  # nothing copied


def test_pbtxt_counts_as_a_savedmodel(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pbtxt").write_text("meta_graphs {}")

    assert fetch_model(str(tmp_path / "m"), tmp_path / "cache").path == tmp_path / "m"


def test_base_dir_picks_highest_version_numerically(tmp_path: Path) -> None:
    for version in ("1", "2", "10"):
        write_fake_saved_model(tmp_path / "base" / version)

    resolved = fetch_model(str(tmp_path / "base"), tmp_path / "cache")

    assert resolved.version == 10
    assert resolved.path == tmp_path / "base" / "10"
    assert resolved.source_uri == str(tmp_path / "base" / "10")


def test_numeric_savedmodel_dir_is_that_version(tmp_path: Path) -> None:
    write_fake_saved_model(tmp_path / "base" / "7")

    resolved = fetch_model(str(tmp_path / "base" / "7"), tmp_path / "cache")

    assert (resolved.path, resolved.version) == (tmp_path / "base" / "7", 7)


def test_ignores_non_numeric_and_empty_numeric_dirs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = tmp_path / "base"
    write_fake_saved_model(base / "3")
    write_fake_saved_model(base / "latest")  # not a version even though it holds a model
    (base / "99").mkdir()  # a version directory still being written, say
    (base / "42").mkdir()
    (base / "42" / "variables").mkdir()
    (base / "README").write_text("not a dir")

    with caplog.at_level(logging.DEBUG, logger="app.storage"):
        resolved = fetch_model(str(base), tmp_path / "cache")

    assert (resolved.path, resolved.version) == (base / "3", 3)
    ignored = "\n".join(record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG)
    assert "latest" in ignored and "99" in ignored and "42" in ignored


def test_relative_path_and_file_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake_saved_model(tmp_path / "base" / "5")
    monkeypatch.chdir(tmp_path)

    relative = fetch_model("base", tmp_path / "cache")
    with_scheme = fetch_model(f"file://{tmp_path / 'base'}", tmp_path / "cache")

    assert relative == with_scheme == ResolvedModel(tmp_path / "base" / "5", 5, str(tmp_path / "base" / "5"))
    assert relative.path.is_absolute()


def test_empty_dir_raises_clear_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "x").mkdir(parents=True)

    with pytest.raises(ModelLoadError) as excinfo:
        fetch_model(str(tmp_path / "empty"), tmp_path / "cache")

    base = tmp_path / "empty"
    assert str(excinfo.value) == (
        f"no SavedModel at {base}: expected saved_model.pb or numeric version subdirectories like {base}/1/"
    )


def test_missing_dir_raises_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no SavedModel at .*nope \(directory does not exist\)"):
        fetch_model(str(tmp_path / "nope"), tmp_path / "cache")


def test_logs_one_info_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = write_fake_saved_model(tmp_path / "m")

    with caplog.at_level(logging.INFO, logger="app.storage"):
        fetch_model(str(tmp_path / "m"), tmp_path / "cache")

    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    size = sum(len(data) for data in files.values())
    assert f"version=1 files={len(files)} bytes={size} " in line
    assert "served_from=local" in line


def test_storage_does_not_import_flask_or_tensorflow() -> None:
    code = "import sys, app.storage; print(sorted({'flask', 'tensorflow'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"
