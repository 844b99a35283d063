"""GCS fixtures: a real ``gcp-storage-emulator`` process and a fresh bucket per test, via the real client.

``gcs_emulator`` (session) starts the emulator once and always stops it. ``gcs`` points
``STORAGE_EMULATOR_HOST`` at it (via monkeypatch) and creates a uniquely named bucket::

    def test_serves_from_gcs(gcs, tmp_path):
        uri = gcs.upload_dir(exported_model_dir, "models/demo/1")   # -> "gs://<bucket>/models/demo/1"
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import storage

from app.storage import make_client, upload_directory

STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class GcsHelper:
    """A bucket on the emulator and a client for it."""

    client: storage.Client
    bucket_name: str
    emulator_url: str

    @property
    def bucket(self) -> storage.Bucket:
        """The test's bucket."""
        return self.client.bucket(self.bucket_name)

    def uri(self, prefix: str = "") -> str:
        """``gs://<bucket>/<prefix>`` (no trailing slash)."""
        return f"gs://{self.bucket_name}/{prefix.strip('/')}".rstrip("/")

    def upload_dir(self, local_dir: Path, prefix: str) -> str:
        """Upload every file below ``local_dir`` to ``<bucket>/<prefix>/``; return its ``gs://`` uri."""
        uri = self.uri(prefix)
        upload_directory(local_dir, uri, client=self.client)
        return uri


def _emulator_command() -> list[str]:
    # The CLI sits next to the interpreter running the tests (.venv/bin); do not resolve the venv symlink.
    cli = Path(sys.executable).parent / "gcp-storage-emulator"
    if not cli.exists():
        pytest.fail(f"gcp-storage-emulator not found next to {sys.executable}; install requirements-dev.txt")
    return [str(cli), "start", "--host", "127.0.0.1", "--in-memory"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")
            pytest.fail(f"gcp-storage-emulator exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(
        f"gcp-storage-emulator not answering at {url} after {STARTUP_TIMEOUT_SECONDS:.0f}s:\n"
        f"{log_path.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """Run ``gcp-storage-emulator`` (in memory) for the session; yield its base url ``http://127.0.0.1:<port>``."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="gcs-emulator-") as log_dir:
        log_path = Path(log_dir) / "emulator.log"
        with open(log_path, "wb") as log:
            # Output goes to a file, not a pipe nobody reads, so a chatty emulator can never block.
            process = subprocess.Popen(
                [*_emulator_command(), "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            _wait_until_up(url, process, log_path)
            yield url
        finally:
            _stop(process)


@pytest.fixture
def gcs(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> GcsHelper:
    """A fresh bucket on the emulator; sets ``STORAGE_EMULATOR_HOST`` for this test and its subprocesses."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    client = make_client()
    bucket_name = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(bucket_name)
    return GcsHelper(client=client, bucket_name=bucket_name, emulator_url=gcs_emulator)
