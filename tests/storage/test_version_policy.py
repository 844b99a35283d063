"""Version policies (latest, latest:N, all, specific) applied to local and gs:// base directories, and the cache."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.errors import ModelLoadError
from app.storage import cache as model_cache
from app.storage import fetch_models
from app.storage.layout import pick_versions
from app.versions import VersionPolicy
from tests.fixtures_gcs import GcsHelper
from tests.storage import read_tree, write_fake_saved_model

LATEST = VersionPolicy()
ALL = VersionPolicy(kind="all")
FAST = {"retries": 2, "backoff_seconds": 0.001}


def latest(n: int) -> VersionPolicy:
    return VersionPolicy(kind="latest", count=n)


def specific(*versions: int) -> VersionPolicy:
    return VersionPolicy(kind="specific", versions=versions)


def write_versions(base: Path, versions: list[str]) -> dict[str, dict[str, bytes]]:
    return {v: write_fake_saved_model(base / v, tag=v) for v in versions}


# --- choosing versions (no storage) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "chosen"),
    [
        (LATEST, [10]),
        (latest(2), [3, 10]),
        (latest(9), [1, 2, 3, 10]),
        (ALL, [1, 2, 3, 10]),
        (specific(2, 10), [2, 10]),
        (specific(1), [1]),
    ],
)
def test_pick_versions_applies_the_policy_numerically(policy: VersionPolicy, chosen: list[int]) -> None:
    children = ["10", "2", "1", "3", "latest"]

    picked = pick_versions("base", children, lambda child: True, policy)

    assert picked == [(str(v), v) for v in chosen]  # lowest version first, "10" after "3"


def test_latest_n_asks_only_until_it_has_n_versions_with_a_saved_model() -> None:
    asked: list[str] = []

    def has_saved_model(child: str) -> bool:
        asked.append(child)
        return child != "4"  # 4 is still being written

    picked = pick_versions("base", ["1", "2", "3", "4", "5"], has_saved_model, latest(2))

    assert picked == [("3", 3), ("5", 5)]
    assert asked == ["5", "4", "3"]


def test_all_skips_versions_without_a_saved_model() -> None:
    picked = pick_versions("base", ["1", "2", "3"], lambda child: child != "2", ALL)

    assert picked == [("1", 1), ("3", 3)]


def test_a_version_spelled_twice_is_served_once() -> None:
    picked = pick_versions("base", ["007", "7", "8"], lambda child: True, ALL)

    assert picked == [("7", 7), ("8", 8)]


def test_a_specific_version_that_is_missing_is_a_boot_error_naming_it() -> None:
    with pytest.raises(ModelLoadError) as excinfo:
        pick_versions("gs://b/m", ["1", "2", "3"], lambda child: child != "3", specific(1, 3, 4))

    assert str(excinfo.value) == (
        "MODEL_VERSION_POLICY=specific:1,3,4: no SavedModel for version 3 at gs://b/m/3/ "
        "(numeric version directories there: 1, 2, 3)"
    )


def test_nothing_to_serve_is_the_usual_no_model_error() -> None:
    with pytest.raises(ModelLoadError, match=r"^no SavedModel at base: expected saved_model.pb"):
        pick_versions("base", ["1", "x"], lambda child: False, ALL)


# --- local -------------------------------------------------------------------------------------------------


def test_local_all_versions_are_served_in_place(tmp_path: Path) -> None:
    base = tmp_path / "base"
    write_versions(base, ["1", "2", "10"])
    (base / "11").mkdir()  # empty: skipped

    resolved = fetch_models(str(base), tmp_path / "cache", ALL)

    assert [(r.version, r.path, r.source_uri) for r in resolved] == [
        (v, base / str(v), str(base / str(v))) for v in (1, 2, 10)
    ]
    assert not (tmp_path / "cache").exists()


def test_local_default_policy_serves_only_the_highest(tmp_path: Path) -> None:
    write_versions(tmp_path / "base", ["1", "2"])

    assert [r.version for r in fetch_models(str(tmp_path / "base"), tmp_path / "cache", LATEST)] == [2]


def test_local_specific_version_that_does_not_exist_fails(tmp_path: Path) -> None:
    write_versions(tmp_path / "base", ["1", "2"])

    with pytest.raises(ModelLoadError, match=r"no SavedModel for version 5 at .*/base/5/"):
        fetch_models(str(tmp_path / "base"), tmp_path / "cache", specific(2, 5))


def test_a_single_savedmodel_dir_is_served_whatever_the_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_fake_saved_model(tmp_path / "m" / "7")

    with caplog.at_level(logging.WARNING, logger="app.storage"):
        resolved = fetch_models(str(tmp_path / "m" / "7"), tmp_path / "cache", specific(1, 2))

    assert [(r.version, r.path) for r in resolved] == [(7, tmp_path / "m" / "7")]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "serving it as version 7" in warning and "MODEL_VERSION_POLICY=specific:1,2" in warning


def test_one_fetched_line_per_version(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_versions(tmp_path / "base", ["1", "2"])

    with caplog.at_level(logging.INFO, logger="app.storage"):
        fetch_models(str(tmp_path / "base"), tmp_path / "cache", ALL)

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("model fetched:")]
    assert [line.split("version=")[1].split()[0] for line in lines] == ["1", "2"]


# --- gs:// -------------------------------------------------------------------------------------------------


def upload(gcs: GcsHelper, tmp_path: Path, prefix: str, versions: list[str]) -> dict[str, dict[str, bytes]]:
    uploaded = write_versions(tmp_path / "src" / prefix, versions)
    gcs.upload_dir(tmp_path / "src" / prefix, prefix)
    return uploaded


def served_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("model fetched:")]
    return [line.split("served_from=")[1].split()[0] for line in lines]


def test_gcs_latest_two_downloads_each_version_into_its_own_verified_entry(gcs: GcsHelper, tmp_path: Path) -> None:
    uploaded = upload(gcs, tmp_path, "m", ["1", "2", "10"])
    cache_dir = tmp_path / "cache"

    resolved = fetch_models(gcs.uri("m"), cache_dir, latest(2), **FAST)

    assert [(r.version, r.source_uri) for r in resolved] == [(2, gcs.uri("m/2")), (10, gcs.uri("m/10"))]
    for r in resolved:
        assert r.path.parent == cache_dir
        assert read_tree(r.path) == uploaded[str(r.version)]
        assert json.loads((r.path / model_cache.MARKER).read_text())["version"] == r.version
    assert sorted(p.name for p in cache_dir.iterdir() if not p.name.startswith(".")) == sorted(
        r.path.name for r in resolved
    )


def test_gcs_cache_works_per_version(gcs: GcsHelper, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    upload(gcs, tmp_path, "m", ["1", "2"])
    cache_dir = tmp_path / "cache"

    with caplog.at_level(logging.INFO, logger="app.storage"):
        [one] = fetch_models(gcs.uri("m"), cache_dir, specific(1), **FAST)
        both = fetch_models(gcs.uri("m"), cache_dir, ALL, **FAST)
        again = fetch_models(gcs.uri("m"), cache_dir, ALL, **FAST)

    assert served_from(caplog) == ["download", "cache", "download", "cache", "cache"]
    assert both == again and both[0] == one


def test_gcs_specific_version_that_does_not_exist_fails_naming_it(gcs: GcsHelper, tmp_path: Path) -> None:
    upload(gcs, tmp_path, "m", ["1", "2"])

    with pytest.raises(ModelLoadError, match=r"specific:2,3: no SavedModel for version 3 at gs://.*/m/3/ "):
        fetch_models(gcs.uri("m"), tmp_path / "cache", specific(2, 3), **FAST)
    assert not (tmp_path / "cache").exists(), "nothing downloaded"


def test_gcs_all_skips_a_half_written_version(gcs: GcsHelper, tmp_path: Path) -> None:
    upload(gcs, tmp_path, "m", ["3", "4"])
    gcs.bucket.blob("m/5/variables/variables.index").upload_from_string(b"half-written version")

    assert [r.version for r in fetch_models(gcs.uri("m"), tmp_path / "cache", ALL, **FAST)] == [3, 4]
