"""Cold start: process start to first successful prediction, for a local model and a large one on GCS.

Two uses. ``benchmarks.run`` (``python -m benchmarks``) calls :func:`measure` in rounds that interleave the three
measurements (import, local, GCS) so the machine's noise falls on all of them alike: a run starts
``python -m app`` and polls ``POST /predict`` every 50 ms until a 200 (``servers.start``); the server's startup log
line gives its ``phases_s`` (import, download, load, warm-up). The GCS scenario serves a ~110 MB SavedModel from a
local ``gcp-storage-emulator``, with a fresh ``MODEL_CACHE_DIR`` per run so every run really downloads.
``python -c "import tensorflow"`` is timed separately: the targets are stated relative to it.

``python -m benchmarks.coldstart`` (on demand, not part of ``python -m benchmarks``) compares how the model reaches
the instance, for the demo MNIST model, the maintenance model and the ~110 MB one, as docs/cold-start.md reports:

- ``download``: ``MODEL_URI=gs://...`` through the real google-cloud-storage client against the emulator;
- ``volume``: a Cloud Storage volume as Cloud Run mounts one (Cloud Storage FUSE), simulated by a read-only FUSE
  passthrough (:class:`SlowFuse`, fusepy) that adds a first-byte latency to every open and non-sequential read,
  a latency to the first lookup of each path (gcsfuse's stat cache then answers) and a per-file bandwidth limit;
- ``baked``: the model on the container's own filesystem (a local path, as ``COPY`` in the Dockerfile puts it).

Each run starts ``python -m app`` with ``WORKERS=1`` (one worker, as on a 1-vCPU instance) and records process start
to ``/readyz`` 200 (polled every 50 ms) and the latency of the first ``POST /predict`` after it. Rounds interleave
the models and deliveries; the table gives medians. Needs fusepy (``pip install fusepy``) and libfuse 2
(``apt-get install libfuse2``), root or ``/dev/fuse`` access for the volume case.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import procs, servers

EMULATOR_START_TIMEOUT_S = 30.0
MOUNT_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 180.0
#: How a model reaches the instance (``python -m benchmarks.coldstart``), in the order the table shows them.
DELIVERIES = ("baked", "volume", "download")
#: The maintenance model's request (two of its example readings): the MNIST ones send the prepared digit.
MAINTENANCE_BODY = {"instances": [{"temperature": 105.0, "vibration": 9.0, "pressure": 6.0, "rpm": 2000.0}]}


@dataclass
class ColdRun:
    """One cold start: seconds to the first prediction and the server's own phase timings."""

    first_prediction_s: float
    phases_s: dict[str, float] = field(default_factory=dict)
    ready_s: float = 0.0  # process start to /readyz 200 (``python -m benchmarks.coldstart`` only)
    first_request_s: float = 0.0  # the first POST /predict after that


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

    def median_of(self, name: str) -> float:
        """Median of one ``ColdRun`` field (``ready_s``, ``first_request_s``) over the runs."""
        return statistics.median(getattr(r, name) for r in self.runs)


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


# ---- `python -m benchmarks.coldstart`: download at start vs a Cloud Storage volume vs the model in the image.


@dataclass(frozen=True)
class VolumeProfile:
    """What the simulated Cloud Storage volume adds. Assumed costs, not measured on Cloud Run (docs/cold-start.md):
    Cloud Storage FUSE opens a ranged GET per file and per non-sequential read, and caches metadata for 60 s."""

    first_byte_ms: float = 50.0  # each open, and each read not continuing the previous one: a new ranged GET
    lookup_ms: float = 20.0  # the first stat or listing of each path: one object or list request, then cached
    mib_per_s: float = 100.0  # one file's stream; files read at once each get this much

    def args(self) -> list[str]:
        return [
            f"--first-byte-ms={self.first_byte_ms}",
            f"--lookup-ms={self.lookup_ms}",
            f"--mib-per-s={self.mib_per_s}",
        ]


class SlowFuse:
    """A read-only passthrough of ``root`` for fusepy that sleeps as :class:`VolumeProfile` says. fusepy turns an
    ``OSError`` into its errno and registers only the operations defined here (their names are FUSE's)."""

    def __init__(self, root: Path, profile: VolumeProfile) -> None:
        self.root = root
        self.profile = profile
        self._looked_up: set[str] = set()
        self._next_offset: dict[int, int] = {}  # per open file: where a sequential read continues
        self._lock = threading.Lock()

    def __call__(self, op: str, *args: object) -> object:
        handler = getattr(self, op, None)
        if handler is None:
            raise OSError(errno.ENOSYS, op)
        return handler(*args)

    def _real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _lookup(self, path: str) -> None:
        with self._lock:
            first = path not in self._looked_up
            self._looked_up.add(path)
        if first:
            time.sleep(self.profile.lookup_ms / 1000)

    def init(self, path: str) -> None:
        return None

    def destroy(self, path: str) -> None:
        return None

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int | float]:
        self._lookup(path)
        st = os.lstat(self._real(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime")
        return {key: getattr(st, key) for key in keys}

    def opendir(self, path: str) -> int:
        return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def readdir(self, path: str, fh: int) -> list[str]:
        self._lookup(path + "/")  # a listing is its own request
        return [".", "..", *os.listdir(self._real(path))]

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, path)
        fh = os.open(self._real(path), os.O_RDONLY)
        with self._lock:
            self._next_offset[fh] = -1  # the first read is never sequential: it pays the first byte
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._lock:
            sequential = self._next_offset.get(fh) == offset
        if not sequential:
            time.sleep(self.profile.first_byte_ms / 1000)
        data = os.pread(fh, size, offset)
        time.sleep(len(data) / (self.profile.mib_per_s * 2**20))
        with self._lock:
            self._next_offset[fh] = offset + len(data)
        return data

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            self._next_offset.pop(fh, None)
        os.close(fh)
        return 0


def serve_volume(source: Path, mountpoint: Path, profile: VolumeProfile) -> None:
    """Mount :class:`SlowFuse` of ``source`` read-only at ``mountpoint``; return when it is unmounted.
    ``direct_io``: every read reaches the passthrough (no page cache across runs), as every new instance's would."""
    try:
        import fuse  # fusepy
    except (ImportError, OSError) as exc:  # fusepy raises OSError when libfuse 2 is missing
        raise SystemExit(
            f"the volume needs fusepy and libfuse 2 (pip install fusepy; apt-get install libfuse2): {exc}"
        ) from exc
    fuse.FUSE(SlowFuse(source, profile), str(mountpoint), foreground=True, ro=True, direct_io=True)


@contextlib.contextmanager
def volume(source: Path, mountpoint: Path, profile: VolumeProfile, log_path: Path) -> Iterator[Path]:
    """Mount ``source`` as a simulated Cloud Storage volume (a fresh mount: empty metadata cache); always unmount."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "benchmarks.coldstart", "mount", str(source), str(mountpoint), *profile.args()]
    with procs.running(command, servers.base_env(), servers.ROOT, log_path) as process:
        try:
            deadline = time.monotonic() + MOUNT_TIMEOUT_S
            while not os.path.ismount(mountpoint):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the FUSE volume did not mount at {mountpoint}; see {log_path}")
                time.sleep(0.05)
            yield mountpoint
        finally:
            unmount = ["fusermount", "-u"] if shutil.which("fusermount") else ["umount", "-l"]
            subprocess.run([*unmount, str(mountpoint)], check=False, capture_output=True)


def wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``GET /readyz`` every 50 ms until a 200; raise if the server exits or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise servers.ServerFailed(f"exited with {process.returncode}\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.05)
    raise servers.ServerFailed(f"/readyz not 200 within {timeout:.0f}s\n{log_path.read_text()[-3000:]}")


def measure_ready(scenario: ColdStart, body: bytes, log_path: Path, env: dict[str, str]) -> ColdRun:
    """Start ``python -m app`` (one worker, empty model cache) on ``scenario.model_uri``; time start to /readyz 200
    and the first prediction after it; record the run."""
    port = servers.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        full_env = {
            **servers.base_env(),
            **env,
            "MODEL_URI": scenario.model_uri,
            "MODEL_CACHE_DIR": cache,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKERS": "1",
        }
        started = time.monotonic()
        with procs.running([sys.executable, "-m", "app"], full_env, servers.ROOT, log_path) as process:
            wait_ready(port, process, log_path)
            ready = time.monotonic() - started
            mark = time.monotonic()
            status, answer = servers.post_predict(port, body, timeout=60.0)
            first_request = time.monotonic() - mark
        if status != 200:
            raise servers.ServerFailed(f"the first POST /predict answered {status}: {answer[:200]!r}")
    run = ColdRun(ready + first_request, startup_phases(log_path), ready, first_request)
    scenario.runs.append(run)
    return run


def prepare_models(work_dir: Path) -> dict[str, tuple[Path, bytes]]:
    """The three models (name -> TF Serving base directory, request body), exported once into ``work_dir``."""
    from benchmarks.run import build_inputs

    manifest = build_inputs(work_dir, rebuild=False)  # mnist and mnist-large (~110 MiB), and the digit body
    maintenance = work_dir / "models" / "maintenance"
    if not (maintenance / "1" / "saved_model.pb").exists():
        command = [sys.executable, "-m", "model_export", "maintenance", "--output", str(maintenance), "--force"]
        subprocess.run(command, cwd=servers.ROOT, env=servers.base_env(), check=True, capture_output=True)
    digit = Path(manifest["body"]).read_bytes()
    return {
        "mnist": (Path(manifest["saved_model"]).parent, digit),
        "maintenance": (maintenance, json.dumps(MAINTENANCE_BODY).encode()),
        "mnist-large": (Path(manifest["large_saved_model"]).parent, digit),
    }


def compare(work_dir: Path, runs: int, profile: VolumeProfile) -> list[ColdStart]:
    """Rounds over every model and delivery (interleaved, so the machine's noise falls on all alike)."""
    from benchmarks.prepare import directory_bytes

    logs = work_dir / "logs"
    models = prepare_models(work_dir)
    mountpoint = work_dir / "volume"
    results: dict[tuple[str, str], ColdStart] = {}
    with gcs_emulator(logs / "gcs-emulator.log") as emulator_url:
        for name, (base, _) in models.items():
            size = directory_bytes(base)
            gcs_base = upload_to_emulator(emulator_url, base / "1")
            results[name, "baked"] = ColdStart(f"{name} baked", str(base), size)
            results[name, "volume"] = ColdStart(f"{name} volume", str(mountpoint / base.name), size)
            results[name, "download"] = ColdStart(f"{name} download", gcs_base, size)
        for index in range(1, runs + 1):
            for name, (base, body) in models.items():
                for delivery in DELIVERIES:
                    scenario = results[name, delivery]
                    log_path = logs / f"coldstart-{name}-{delivery}-{index}.log"
                    env = {"STORAGE_EMULATOR_HOST": emulator_url} if delivery == "download" else {}
                    try:
                        with contextlib.ExitStack() as stack:
                            if delivery == "volume":
                                stack.enter_context(volume(base.parent, mountpoint, profile, logs / "volume.log"))
                            run = measure_ready(scenario, body, log_path, env)
                    except (servers.ServerFailed, RuntimeError, OSError) as exc:
                        scenario.failure = str(exc).splitlines()[0]
                        print(f"{scenario.scenario}: FAILED: {exc}", flush=True)
                        continue
                    print(
                        f"round {index}/{runs} {scenario.scenario}: ready {run.ready_s:.2f}s, "
                        f"first request {run.first_request_s * 1000:.0f} ms",
                        flush=True,
                    )
    return list(results.values())


def table(results: list[ColdStart]) -> list[str]:
    """The markdown table docs/cold-start.md shows: medians per model and delivery."""
    lines = [
        "| model (size) | delivery | start → /readyz 200 | first request | download_s | load_s | runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in results:
        name, delivery = scenario.scenario.split(" ")
        label = f"{name} ({scenario.model_bytes / 2**20:.1f} MiB)"
        if not scenario.runs:
            lines.append(f"| {label} | {delivery} | failed: {scenario.failure} | | | | 0 |")
            continue
        lines.append(
            f"| {label} | {delivery} | {scenario.median_of('ready_s'):.2f} s "
            f"| {scenario.median_of('first_request_s') * 1000:.0f} ms | {scenario.median_phase('download_s'):.2f} "
            f"| {scenario.median_phase('load_s'):.2f} | {len(scenario.runs)} |"
        )
    return lines


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = VolumeProfile()
    parser.add_argument("--first-byte-ms", type=float, default=defaults.first_byte_ms, help="per open/seek")
    parser.add_argument("--lookup-ms", type=float, default=defaults.lookup_ms, help="first stat/list of a path")
    parser.add_argument("--mib-per-s", type=float, default=defaults.mib_per_s, help="per-file bandwidth")


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: servers stopped, volume unmounted


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.coldstart [--runs N] [--work-dir DIR] [volume profile]``; ``... mount SRC MNT`` is the
    volume's own process (started by :func:`volume`)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["mount"]:
        parser = argparse.ArgumentParser(prog="python -m benchmarks.coldstart mount")
        parser.add_argument("source", type=Path)
        parser.add_argument("mountpoint", type=Path)
        _profile_arguments(parser)
        opts = parser.parse_args(args[1:])
        serve_volume(opts.source, opts.mountpoint, VolumeProfile(opts.first_byte_ms, opts.lookup_ms, opts.mib_per_s))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--work-dir", type=Path, default=servers.ROOT / "build" / "coldstart")
    _profile_arguments(parser)
    opts = parser.parse_args(args)
    work_dir = opts.work_dir.resolve()
    profile = VolumeProfile(opts.first_byte_ms, opts.lookup_ms, opts.mib_per_s)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        results = compare(work_dir, opts.runs, profile)
    finally:
        procs.stop_all()
    (work_dir / "coldstart.json").write_text(
        json.dumps({"profile": asdict(profile), "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    print("\n".join(table(results)))
    return 1 if any(r.failure for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
