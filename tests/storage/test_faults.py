"""Storage faults, injected by a proxy between the real google-cloud-storage client and the emulator.

Each test programs ``fault_proxy`` (see ``tests/faultproxy.py``), calls ``fetch_model`` in-process, and then
checks both the outcome and the proxy's request log: the number of attempts must be exactly what our retry
policy allows, which also proves the client library adds no retries of its own.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from app.errors import StorageError
from app.storage import cache as model_cache
from app.storage import fetch_model
from app.storage.gcs_download import download_objects
from app.storage.gcs_listing import resolve_remote
from app.versions import VersionPolicy
from tests.faultproxy import (
    LISTING,
    MEDIA,
    FaultProxy,
    corrupt,
    delay,
    drop,
    missing,
    stall,
    status,
    truncate,
)
from tests.fixtures_gcs import GcsHelper
from tests.storage import read_tree, write_fake_saved_model

RETRIES = 3
TIMEOUT = 2.0
"""Client timeout in these tests: long enough for a loaded machine, short enough to wait for."""
FAST = {"retries": RETRIES, "backoff_seconds": 0.01, "timeout_seconds": TIMEOUT}
PB_DOWNLOAD = "%2Fsaved_model.pb?alt=media"
"""Path substring of the downloads of one object (saved_model.pb, 16 bytes), so faults hit only it."""


@dataclass(frozen=True)
class Model:
    uri: str
    """Base directory holding version 1."""
    prefix: str
    files: dict[str, bytes]


@pytest.fixture
def model(gcs: GcsHelper, tmp_path: Path) -> Model:
    """A fake SavedModel uploaded (straight to the emulator) as version 1 under ``m/``."""
    files = write_fake_saved_model(tmp_path / "src")
    gcs.upload_dir(tmp_path / "src", "m/1")
    return Model(uri=gcs.uri("m"), prefix="m/1/", files=files)


def downloads_per_object(proxy: FaultProxy, model: Model) -> Counter[str]:
    """How many download requests each object of ``model`` got, by relative path."""
    names = (unquote(r.path.split("/o/", 1)[1].split("?", 1)[0]) for r in proxy.requests(MEDIA))
    return Counter(name.removeprefix(model.prefix) for name in names)


def assert_nothing_published(cache_dir: Path) -> None:
    """No model directory, no marker and no temp dir: nothing a later start could load."""
    assert [p.name for p in cache_dir.iterdir() if not p.name.startswith(".")] == []
    assert list(cache_dir.rglob(model_cache.MARKER)) == []
    assert list((cache_dir / model_cache.PARTIAL_DIR).iterdir()) == []


# --- transient download faults: retried until the object verifies -------------------------------------------

RECOVERABLE = [
    pytest.param(status(503), 2, id="503"),
    pytest.param(status(500), 1, id="500"),
    pytest.param(status(429), 2, id="429"),
    pytest.param(delay(3 * TIMEOUT), 1, id="timeout-before-headers"),
    pytest.param(stall(5, 3 * TIMEOUT), 1, id="timeout-mid-body"),
    pytest.param(truncate(5), 2, id="truncated"),
    pytest.param(corrupt(), 2, id="corrupted"),
    pytest.param(drop(), 2, id="dropped"),
    pytest.param(missing(), 1, id="missing"),
]


@pytest.mark.parametrize(("fault", "times"), RECOVERABLE)
def test_download_fault_is_retried_until_the_object_verifies(
    fault_proxy: FaultProxy, model: Model, tmp_path: Path, fault, times: int
) -> None:
    fault_proxy.add(fault, path=PB_DOWNLOAD, times=times)

    resolved = fetch_model(model.uri, tmp_path / "cache", **FAST)

    assert read_tree(resolved.path) == model.files
    attempts = fault_proxy.requests(PB_DOWNLOAD)
    assert [r.fault for r in attempts] == [str(fault)] * times + [None]
    assert attempts[-1].status == 200
    assert set(downloads_per_object(fault_proxy, model).values()) - {1} == {times + 1}  # the others: once each


# --- faults on every attempt: bounded, clear, and nothing published ---------------------------------------


def test_corruption_on_every_attempt_fails_after_exactly_retries_and_publishes_nothing(
    fault_proxy: FaultProxy, gcs: GcsHelper, model: Model, tmp_path: Path
) -> None:
    fault_proxy.add(corrupt(), path=MEDIA)
    cache_dir = tmp_path / "cache"

    with pytest.raises(StorageError) as excinfo:
        fetch_model(model.uri, cache_dir, **FAST)

    obj = rf"gs://{gcs.bucket_name}/m/1/\S+"
    assert re.fullmatch(
        rf"giving up on download of ({obj}) after {RETRIES} attempts: ChecksumMismatch: \1: "
        r"crc32c mismatch \(expected \S+, got \S+\)",
        str(excinfo.value),
    ), str(excinfo.value)
    # Every object ran its full retries (the empty one cannot be corrupted): no client-side retries on top.
    expected = {relative: RETRIES if data else 1 for relative, data in model.files.items()}
    assert downloads_per_object(fault_proxy, model) == expected
    assert_nothing_published(cache_dir)

    # The failed attempt poisoned nothing: once storage behaves, the next start downloads a good copy.
    fault_proxy.clear()
    resolved = fetch_model(model.uri, cache_dir, **FAST)
    assert read_tree(resolved.path) == model.files


@pytest.mark.parametrize(
    ("fault", "last_error"),
    [
        pytest.param(status(503), "HTTP 503 ServiceUnavailable", id="503"),
        pytest.param(truncate(5), r"ProtocolError: .*IncompleteRead\(5 bytes read, 11 more expected\).*", id="trunc"),
        pytest.param(drop(), r"ConnectionError: .*Remote end closed connection without response.*", id="dropped"),
        pytest.param(
            missing(),
            r"ObjectMissing: gs://\S+: generation \d+ not found, though it was just listed "
            r"\(was the model deleted or re-uploaded\?\)",
            id="missing",
        ),
    ],
)
def test_exhausted_retries_name_the_object_and_the_last_error(
    fault_proxy: FaultProxy, gcs: GcsHelper, model: Model, tmp_path: Path, fault, last_error: str
) -> None:
    fault_proxy.add(fault, path=PB_DOWNLOAD)
    started = time.monotonic()

    with pytest.raises(StorageError) as excinfo:
        fetch_model(model.uri, tmp_path / "cache", **FAST)

    elapsed = time.monotonic() - started
    uri = re.escape(f"gs://{gcs.bucket_name}/m/1/saved_model.pb")
    assert re.fullmatch(rf"giving up on download of {uri} after {RETRIES} attempts: {last_error}", str(excinfo.value))
    assert len(fault_proxy.requests(PB_DOWNLOAD)) == RETRIES
    assert elapsed < 10  # backoff 0.01 s doubling: the attempts themselves dominate
    assert_nothing_published(tmp_path / "cache")


def test_timeouts_on_every_attempt_give_up_after_bounded_time(
    fault_proxy: FaultProxy, gcs: GcsHelper, model: Model, tmp_path: Path
) -> None:
    fault_proxy.add(delay(60), path=PB_DOWNLOAD)  # the proxy wakes it when the test ends
    started = time.monotonic()

    with pytest.raises(StorageError) as excinfo:
        fetch_model(model.uri, tmp_path / "cache", **{**FAST, "retries": 2})

    elapsed = time.monotonic() - started
    uri = f"gs://{gcs.bucket_name}/m/1/saved_model.pb"
    assert str(excinfo.value).startswith(f"giving up on download of {uri} after 2 attempts: ReadTimeout: ")
    assert len(fault_proxy.requests(PB_DOWNLOAD)) == 2
    assert 2 * TIMEOUT <= elapsed < 2 * TIMEOUT + 5  # two client timeouts, plus a little backoff and listing


def test_object_deleted_after_listing_is_a_clear_error(gcs: GcsHelper, model: Model, tmp_path: Path) -> None:
    # A real 404 from the emulator (no proxy): the listed generation is gone by the time it is downloaded.
    [remote] = resolve_remote(gcs.client, model.uri, VersionPolicy(), **FAST)
    gcs.bucket.blob("m/1/saved_model.pb").delete()

    with pytest.raises(StorageError) as excinfo:
        download_objects(gcs.client, gcs.bucket_name, remote.objects, tmp_path / "out", max_workers=2, **FAST)

    uri = f"gs://{gcs.bucket_name}/m/1/saved_model.pb"
    assert re.fullmatch(
        rf"giving up on download of {re.escape(uri)} after {RETRIES} attempts: ObjectMissing: {re.escape(uri)}: "
        r"generation \d+ not found, though it was just listed \(was the model deleted or re-uploaded\?\)",
        str(excinfo.value),
    )


# --- listing faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(status(503), id="503"),
        pytest.param(status(429), id="429"),
        pytest.param(truncate(10), id="truncated"),
        pytest.param(drop(), id="dropped"),
        pytest.param(delay(3 * TIMEOUT), id="timeout"),
    ],
)
def test_listing_fault_is_retried(fault_proxy: FaultProxy, model: Model, tmp_path: Path, fault) -> None:
    times = 1 if fault.kind == "delay" else 2
    fault_proxy.add(fault, path=LISTING, times=times)

    resolved = fetch_model(model.uri, tmp_path / "cache", **FAST)

    assert read_tree(resolved.path) == model.files
    # The first listing (base dir, with delimiter) failed and was retried; the second (version dir) did not.
    assert [r.fault for r in fault_proxy.requests(LISTING)] == [str(fault)] * times + [None, None]


def test_listing_that_always_fails_gives_up_after_exactly_retries(
    fault_proxy: FaultProxy, model: Model, tmp_path: Path
) -> None:
    fault_proxy.add(status(503), path=LISTING)

    with pytest.raises(StorageError) as excinfo:
        fetch_model(model.uri, tmp_path / "cache", **FAST)

    assert str(excinfo.value) == (
        f"giving up on listing {model.uri}/ after {RETRIES} attempts: HTTP 503 ServiceUnavailable"
    )
    assert len(fault_proxy.requests(LISTING)) == RETRIES
    assert fault_proxy.requests(MEDIA) == []


def test_the_client_sends_only_our_listings_and_downloads(
    fault_proxy: FaultProxy, model: Model, tmp_path: Path
) -> None:
    # make_client() (used when no client is passed) turns off the library's background bucket-metadata fetch,
    # a request outside our retry policy that needs a permission the runtime service account lacks.
    fetch_model(model.uri, tmp_path / "cache", **FAST)

    paths = [r.path for r in fault_proxy.requests()]
    assert [p for p in paths if LISTING not in p and MEDIA not in p] == []
    assert len(paths) == 2 + len(model.files)
