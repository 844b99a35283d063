"""Fetching models from GCS through the real client against the local emulator, plus retry/checksum units."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as api_exceptions

from app.errors import ModelLoadError, StorageError
from app.storage import ResolvedModel, fetch_model, make_client, upload_directory
from app.storage import cache as model_cache
from app.storage.checksums import ChecksumMismatch, Digests, HashingWriter, digests_of, verify
from app.storage.fetch import cache_name
from app.storage.gcs_download import download_objects
from app.storage.gcs_listing import resolve_remote
from app.storage.retry import is_transient, with_retries
from app.versions import VersionPolicy
from tests.fixtures_gcs import GcsHelper
from tests.storage import read_tree, write_fake_saved_model

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = {"retries": 2, "backoff_seconds": 0.001}


def upload_versions(gcs: GcsHelper, tmp_path: Path, prefix: str, versions: list[str]) -> dict[str, dict]:
    """Upload one fake SavedModel per version under ``prefix``; return each version's files."""
    uploaded = {}
    for version in versions:
        uploaded[version] = write_fake_saved_model(tmp_path / "src" / prefix / version, tag=version)
    gcs.upload_dir(tmp_path / "src" / prefix, prefix)
    return uploaded


def cache_entries(cache_dir: Path) -> list[Path]:
    """Model directories in the cache (bookkeeping dirs excluded)."""
    return sorted(path for path in cache_dir.iterdir() if not path.name.startswith("."))


def served_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ``served_from`` value of each "model fetched" line logged so far."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("model fetched:")]
    return [line.split("served_from=")[1].split()[0] for line in lines]


# --- resolution and download -------------------------------------------------------------------------------


def test_base_dir_downloads_only_the_highest_version_byte_identical(gcs: GcsHelper, tmp_path: Path) -> None:
    uploaded = upload_versions(gcs, tmp_path, "models/demo", ["1", "2", "10"])
    cache_dir = tmp_path / "cache"

    resolved = fetch_model(gcs.uri("models/demo"), cache_dir)

    assert resolved.version == 10
    assert resolved.source_uri == f"gs://{gcs.bucket_name}/models/demo/10"
    assert resolved.path.parent == cache_dir
    assert read_tree(resolved.path) == uploaded["10"]  # nested variables/ and assets/, empty file included
    assert cache_entries(cache_dir) == [resolved.path]
    assert list((cache_dir / model_cache.PARTIAL_DIR).iterdir()) == []  # no temp dirs left behind


def test_savedmodel_prefix_with_trailing_slash_is_that_version(gcs: GcsHelper, tmp_path: Path) -> None:
    uploaded = upload_versions(gcs, tmp_path, "m", ["7"])

    resolved = fetch_model(gcs.uri("m/7") + "/", tmp_path / "cache")

    assert (resolved.version, resolved.source_uri) == (7, f"gs://{gcs.bucket_name}/m/7")
    assert read_tree(resolved.path) == uploaded["7"]


def test_non_numeric_and_modelless_versions_are_ignored(gcs: GcsHelper, tmp_path: Path) -> None:
    upload_versions(gcs, tmp_path, "m", ["3", "latest"])
    gcs.bucket.blob("m/5/variables/variables.index").upload_from_string(b"half-written version")

    resolved = fetch_model(gcs.uri("m"), tmp_path / "cache")

    assert resolved.version == 3


def test_cache_manifest_describes_the_download(gcs: GcsHelper, tmp_path: Path) -> None:
    uploaded = upload_versions(gcs, tmp_path, "m", ["4"])

    resolved = fetch_model(gcs.uri("m"), tmp_path / "cache")

    manifest = json.loads((resolved.path / model_cache.MARKER).read_text())
    assert manifest["source_uri"] == resolved.source_uri and manifest["version"] == 4
    assert {f["path"]: f["size"] for f in manifest["files"]} == {k: len(v) for k, v in uploaded["4"].items()}
    assert all(f["crc32c"] and f["md5"] and f["generation"] for f in manifest["files"])


# --- cache -------------------------------------------------------------------------------------------------


def test_second_fetch_is_served_from_cache(gcs: GcsHelper, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    upload_versions(gcs, tmp_path, "m", ["1"])
    cache_dir = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="app.storage"):
        first = fetch_model(gcs.uri("m"), cache_dir)
        marker_stat = (first.path / model_cache.MARKER).stat()
        second = fetch_model(gcs.uri("m"), cache_dir)

    assert second == first
    assert served_from(caplog) == ["download", "cache"]
    assert (second.path / model_cache.MARKER).stat().st_mtime_ns == marker_stat.st_mtime_ns
    assert (second.path / model_cache.MARKER).stat().st_ino == marker_stat.st_ino


def test_reupload_of_the_same_version_is_fetched_again(
    gcs: GcsHelper, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    write_fake_saved_model(tmp_path / "old", tag="old")
    gcs.upload_dir(tmp_path / "old", "m/1")
    first = fetch_model(gcs.uri("m"), cache_dir)
    new_files = write_fake_saved_model(tmp_path / "new", tag="new")
    gcs.upload_dir(tmp_path / "new", "m/1")

    with caplog.at_level(logging.INFO, logger="app.storage"):
        second = fetch_model(gcs.uri("m"), cache_dir)

    assert served_from(caplog) == ["download"]
    assert second.version == first.version == 1
    assert second.path != first.path
    assert read_tree(second.path) == new_files


def test_damaged_cache_entry_is_downloaded_again(
    gcs: GcsHelper, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uploaded = upload_versions(gcs, tmp_path, "m", ["1"])
    first = fetch_model(gcs.uri("m"), tmp_path / "cache")
    (first.path / "variables" / "variables.data-00000-of-00001").write_bytes(b"truncated")

    with caplog.at_level(logging.INFO, logger="app.storage"):
        second = fetch_model(gcs.uri("m"), tmp_path / "cache")

    assert served_from(caplog) == ["download"]
    assert second.path == first.path
    assert read_tree(second.path) == uploaded["1"]


def test_failed_fill_leaves_no_partial_dir_and_no_entry(tmp_path: Path) -> None:
    def fill(dest: Path) -> None:
        (dest / "saved_model.pb").write_bytes(b"half")
        raise StorageError("network gone")

    with pytest.raises(StorageError, match="network gone"):
        model_cache.fetch_cached(tmp_path, "entry", {"files": []}, fill)

    assert cache_entries(tmp_path) == []
    assert list((tmp_path / model_cache.PARTIAL_DIR).iterdir()) == []


CHILD = """
import json, logging, sys
from pathlib import Path
from app.storage import fetch_model
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
model = fetch_model(sys.argv[1], Path(sys.argv[2]))
print(json.dumps({"path": str(model.path), "version": model.version}))
"""


def wait_until(condition: Callable[[], bool], timeout: float, explain: Callable[[], str]) -> None:
    """Poll ``condition`` until true; fail with ``explain()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(explain())
        time.sleep(0.02)


def test_concurrent_processes_download_once_and_share_the_result(gcs: GcsHelper, tmp_path: Path) -> None:
    uploaded = upload_versions(gcs, tmp_path, "m", ["1", "2"])
    cache_dir = tmp_path / "cache"
    [remote] = resolve_remote(gcs.client, gcs.uri("m"), VersionPolicy(), **FAST)
    lock = model_cache.lock_path(cache_dir, cache_name(remote))
    lock.parent.mkdir(parents=True)
    logs = [tmp_path / f"worker-{n}.log" for n in range(4)]

    with open(lock, "a+b") as held:
        # Play a worker that is mid-download, so all four really meet at the lock; then let them race.
        fcntl.flock(held, fcntl.LOCK_EX)
        children = []
        for log in logs:
            with open(log, "w") as stderr:  # STORAGE_EMULATOR_HOST is inherited from the gcs fixture
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", CHILD, gcs.uri("m"), str(cache_dir)],
                        cwd=REPO_ROOT,
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                    )
                )
        wait_until(
            lambda: all("waiting for another process" in log.read_text() for log in logs),
            timeout=60,
            explain=lambda: "workers never blocked on the lock:\n" + "\n".join(log.read_text() for log in logs),
        )
    outputs = [child.communicate(timeout=120)[0] for child in children]

    stderr_text = "".join(log.read_text() for log in logs)
    assert [child.returncode for child in children] == [0] * 4, stderr_text
    results = [json.loads(out) for out in outputs]
    assert len({r["path"] for r in results}) == 1
    assert {r["version"] for r in results} == {2}
    assert stderr_text.count("served_from=download") == 1
    assert stderr_text.count("served_from=cache") == 3
    [entry] = cache_entries(cache_dir)
    assert str(entry) == results[0]["path"]
    assert read_tree(entry) == uploaded["2"]
    assert list((cache_dir / model_cache.PARTIAL_DIR).iterdir()) == []


# --- errors ------------------------------------------------------------------------------------------------


def test_missing_prefix_raises_model_load_error(gcs: GcsHelper, tmp_path: Path) -> None:
    upload_versions(gcs, tmp_path, "elsewhere", ["1"])
    uri = gcs.uri("nothing/here")

    with pytest.raises(ModelLoadError) as excinfo:
        fetch_model(uri, tmp_path / "cache")

    assert type(excinfo.value) is ModelLoadError
    assert str(excinfo.value) == (
        f"no SavedModel at {uri}: expected saved_model.pb or numeric version subdirectories like {uri}/1/"
    )


def test_missing_bucket_raises_storage_error(gcs: GcsHelper, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as excinfo:
        fetch_model("gs://no-such-bucket-4711/models/m", tmp_path / "cache", **FAST)

    assert str(excinfo.value) == (
        "listing gs://no-such-bucket-4711/models/m: bucket 'no-such-bucket-4711' does not exist"
    )


def test_checksum_mismatch_in_a_real_download_is_retried_then_fatal(gcs: GcsHelper, tmp_path: Path) -> None:
    upload_versions(gcs, tmp_path, "m", ["1"])
    [remote] = resolve_remote(gcs.client, gcs.uri("m"), VersionPolicy(), **FAST)
    [pb] = [obj for obj in remote.objects if obj.relative == "saved_model.pb"]
    wrong = type(pb)(pb.name, pb.relative, pb.generation, Digests(pb.digests.size, "AAAAAA==", pb.digests.md5))

    with pytest.raises(StorageError) as excinfo:
        download_objects(gcs.client, gcs.bucket_name, [wrong], tmp_path / "out", max_workers=2, **FAST)

    uri = f"gs://{gcs.bucket_name}/m/1/saved_model.pb"
    assert str(excinfo.value).startswith(f"giving up on download of {uri} after 2 attempts: ChecksumMismatch")
    assert "crc32c mismatch" in str(excinfo.value)


# --- checksums ---------------------------------------------------------------------------------------------


def test_emulator_objects_carry_crc32c_and_md5(gcs: GcsHelper) -> None:
    data = b"some model bytes" * 1000
    gcs.bucket.blob("obj").upload_from_string(data)

    blob = gcs.bucket.get_blob("obj")

    expected = digests_of(data)
    assert (blob.size, blob.crc32c, blob.md5_hash) == (expected.size, expected.crc32c, expected.md5)


def test_hashing_writer_matches_known_digests() -> None:
    out = io.BytesIO()
    writer = HashingWriter(out)
    writer.write(b"hello ")
    writer.write(b"world")

    # Reference values: `gsutil hash` of a file holding "hello world".
    assert writer.digests() == Digests(size=11, crc32c="yZRlqg==", md5="XrY7u+Ae7tCTyyK7j1rNww==")
    assert out.getvalue() == b"hello world"


@pytest.mark.parametrize(
    ("expected", "field"),
    [
        (Digests(size=12, crc32c="yZRlqg==", md5="XrY7u+Ae7tCTyyK7j1rNww=="), "size"),
        (Digests(size=11, crc32c="AAAAAA==", md5="XrY7u+Ae7tCTyyK7j1rNww=="), "crc32c"),
        (Digests(size=11, crc32c="yZRlqg==", md5="AAAAAAAAAAAAAAAAAAAAAA=="), "md5"),
    ],
)
def test_verify_rejects_a_mismatch(expected: Digests, field: str) -> None:
    with pytest.raises(ChecksumMismatch, match=rf"^gs://b/o: {field} mismatch \(expected "):
        verify("gs://b/o", expected, digests_of(b"hello world"))


def test_verify_accepts_a_match_and_skips_unrecorded_digests() -> None:
    actual = digests_of(b"hello world")
    verify("gs://b/o", actual, actual)
    verify("gs://b/o", Digests(size=11, crc32c="yZRlqg==", md5=None), actual)  # composite objects have no MD5


# --- retries -----------------------------------------------------------------------------------------------


class Flaky:
    """Raises the given errors in turn, then returns "ok"; counts calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retry_recovers_from_transient_failures() -> None:
    flaky = Flaky(api_exceptions.ServiceUnavailable("busy"), requests.exceptions.ConnectionError("reset"))

    assert with_retries(flaky, what="thing", attempts=4, backoff_seconds=0.001) == "ok"
    assert flaky.calls == 3


def test_retry_does_not_retry_not_found() -> None:
    flaky = Flaky(api_exceptions.NotFound("gone"))

    with pytest.raises(api_exceptions.NotFound):
        with_retries(flaky, what="thing", attempts=4, backoff_seconds=0.001)
    assert flaky.calls == 1


def test_retry_gives_up_with_a_storage_error_naming_the_last_error() -> None:
    flaky = Flaky(*[api_exceptions.TooManyRequests("slow down")] * 2 + [api_exceptions.InternalServerError("x")])

    with pytest.raises(StorageError) as excinfo:
        with_retries(flaky, what="download of gs://b/o", attempts=3, backoff_seconds=0.001)

    assert flaky.calls == 3
    assert str(excinfo.value) == "giving up on download of gs://b/o after 3 attempts: HTTP 500 InternalServerError"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (api_exceptions.ServiceUnavailable("x"), True),
        (api_exceptions.TooManyRequests("x"), True),
        (requests.exceptions.ReadTimeout("x"), True),
        (ChecksumMismatch("x"), True),
        (api_exceptions.NotFound("x"), False),
        (api_exceptions.Forbidden("x"), False),
        (ValueError("x"), False),
    ],
)
def test_is_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


# --- upload and client -------------------------------------------------------------------------------------


def test_upload_directory_round_trip(gcs: GcsHelper, tmp_path: Path) -> None:
    files = write_fake_saved_model(tmp_path / "model")

    count = upload_directory(tmp_path / "model", f"gs://{gcs.bucket_name}/exports/model/", client=gcs.client)

    assert count == len(files)
    stored = {
        blob.name.removeprefix("exports/model/"): blob.download_as_bytes()
        for blob in gcs.client.list_blobs(gcs.bucket_name)
    }
    assert stored == files


def test_upload_of_a_missing_dir_fails_clearly(gcs: GcsHelper, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"^cannot upload .*missing: not a directory$"):
        upload_directory(tmp_path / "missing", gcs.uri("x"), client=gcs.client)


@pytest.mark.parametrize("uri", ["gs://", "s3://bucket/model", "gs:///model"])
def test_upload_to_a_bad_uri_fails_clearly(gcs: GcsHelper, tmp_path: Path, uri: str) -> None:
    write_fake_saved_model(tmp_path / "model")

    with pytest.raises(StorageError, match=r"^not a gs:// uri: .* \(expected gs://bucket/prefix\)$"):
        upload_directory(tmp_path / "model", uri, client=gcs.client)


def test_make_client_accepts_emulator_host_without_scheme(
    gcs: GcsHelper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload_versions(gcs, tmp_path, "m", ["1"])
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.emulator_url.removeprefix("http://"))

    resolved = fetch_model(gcs.uri("m"), tmp_path / "cache", client=make_client())

    assert resolved == ResolvedModel(resolved.path, 1, gcs.uri("m/1"))
