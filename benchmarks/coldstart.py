"""Cold start: process start to first successful prediction, for a local model and a large one on GCS.

Rounds interleave the three measurements (import, local, GCS) so the machine's noise falls on all of them alike.
A run starts ``python -m app`` and polls ``POST /predict`` every 50 ms until a 200 (``servers.start``); the
server's startup log line gives its ``phases_s`` (import, download, load, warm-up). The GCS scenario serves a
~110 MB SavedModel from a local ``gcp-storage-emulator``, with a fresh ``MODEL_CACHE_DIR`` per run so every run
really downloads. ``python -c "import tensorflow"`` is timed separately: the targets are stated relative to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import procs, servers

EMULATOR_START_TIMEOUT_S = 30.0


@dataclass
class ColdRun:
    """One cold start: seconds to the first prediction and the server's own phase timings."""

    first_prediction_s: float
    phases_s: dict[str, float] = field(default_factory=dict)


@dataclass
class ColdStart:
    """Repeated cold starts of one scenario (``local`` or ``gcs``)."""

    scenario: str
    model_uri: str
    model_bytes: int
    runs: list[ColdRun] = field(default_factory=list)
    failure: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(r.first_prediction_s for r in self.runs)

    def median_phase(self, name: str) -> float:
        """Median of one ``phases_s`` entry over the runs (0 when the server did not report it)."""
        return statistics.median(r.phases_s.get(name, 0.0) for r in self.runs)


def time_tensorflow_import() -> float:
    """Wall time of ``python -c "import tensorflow"`` (interpreter start included)."""
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, "-c", "import tensorflow"],
            env=servers.base_env(),
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise RuntimeError(f"`python -c 'import tensorflow'` failed: {exc}") from exc
    return time.monotonic() - started


def startup_phases(log_path: Path) -> dict[str, float]:
    """``phases_s`` of the first JSON startup line in a server log ({} if there is none)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if '"phases_s"' not in line:
            continue
        with contextlib.suppress(ValueError, AttributeError):
            return {k: float(v) for k, v in json.loads(line)["phases_s"].items()}
    return {}


def measure(scenario: ColdStart, body: bytes, log_path: Path, env: dict[str, str] | None = None) -> ColdRun:
    """Cold-start ``python -m app`` on ``scenario.model_uri`` once, with an empty model cache; record the run."""
    spec = servers.ours(scenario.model_uri, {}, key=f"cold-{scenario.scenario}")
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        with servers.start(spec, body, log_path, env={**(env or {}), "MODEL_CACHE_DIR": cache}) as server:
            seconds = server.first_prediction_s
        run = ColdRun(seconds, startup_phases(log_path))
    scenario.runs.append(run)
    return run


@contextlib.contextmanager
def gcs_emulator(log_path: Path) -> Iterator[str]:
    """Run ``gcp-storage-emulator`` (in memory) on a free port; yield its url; always stop it."""
    cli = Path(sys.executable).parent / "gcp-storage-emulator"
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(cli), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    with procs.running(command, servers.base_env(), servers.ROOT, log_path) as process:
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gcp-storage-emulator not up after {EMULATOR_START_TIMEOUT_S:.0f}s") from None
                time.sleep(0.1)
        yield url


def upload_to_emulator(emulator_url: str, version_dir: Path) -> str:
    """Upload a SavedModel version directory to a new bucket; return the base uri (``gs://bucket/models/NAME``)."""
    from app.storage import make_client, upload_directory

    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = emulator_url  # make_client's own switch to the emulator
    try:
        client = make_client()
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        client.create_bucket(bucket)
        base = f"gs://{bucket}/models/{version_dir.parent.name}"
        upload_directory(version_dir, f"{base}/{version_dir.name}", client=client)
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
    return base
