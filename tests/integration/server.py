"""Start the real production server (``python -m app``: gunicorn) in a subprocess, and always stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    url: str
    log_path: Path
    err_path: Path

    def log(self) -> str:
        """What the server wrote to stdout (its structured log)."""
        return self.log_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> tuple[int, float]:
        """SIGTERM, then wait; returns (exit code, seconds it took)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, time.monotonic() - started


def server_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AIP_", "PORT", "WORKERS", "THREADS"))}
    base.update({"MODEL_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"})
    base.update(env)
    return base


@contextlib.contextmanager
def run_server(
    env: dict[str, str], tmp_path: Path, wait_ready: bool = True, timeout: float = 120
) -> Iterator[RunningServer]:
    """Run ``python -m app`` with ``env`` on a free port until the block ends."""
    port = free_port()
    log_path, err_path = tmp_path / f"server-{port}.log", tmp_path / f"server-{port}.err"
    with log_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=ROOT,
            env=server_env({"PORT": str(port), **env}, tmp_path),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", log_path, err_path)
    try:
        if wait_ready:
            wait_until_ready(server, timeout)
        yield server
    finally:
        if process.poll() is None:
            server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # no stray workers, whatever happened


def wait_until_ready(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"server exited with {server.process.returncode}:\n{server.log()[-4000:]}\n{server.stderr()[-2000:]}"
            )
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"server not ready after {timeout}s:\n{server.log()[-4000:]}")
