"""The servers under test: how each is started, and waiting for its first successful prediction.

All three serve the same trained weights on 127.0.0.1 and answer ``POST /predict`` with ``{"instances": [...]}``:

- ``ours``: ``python -m app`` with default settings (plus any ``--ours-env`` configuration);
- ``seed`` (a): ``benchmarks/baselines/seed_flask.py`` under ``gunicorn --workers 1 --threads 8 --timeout 0``;
- ``simple`` (b): ``benchmarks/baselines/simple_signature.py`` under the same gunicorn command.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import procs

ROOT = Path(__file__).resolve().parent.parent

#: Google's recommended Cloud Run command for Flask, used for both baselines.
GUNICORN_ARGS = ("--workers", "1", "--threads", "8", "--timeout", "0")

#: The only variables a server inherits from the harness's environment: whatever the caller's shell has set
#: (MODEL_URI, WORKERS, LOG_FORMAT, TF_* ...), every server starts from its defaults plus what its spec says.
_INHERITED = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


class ServerFailed(RuntimeError):
    """A server exited or never answered a prediction in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server. ``{port}`` in ``argv`` and ``env`` values is replaced at start."""

    key: str
    label: str
    kind: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    def command_line(self) -> str:
        """The command as a person would type it (for the report): paths relative to the repository."""

        def shown(value: str) -> str:
            if value == sys.executable:
                return "python"
            path = Path(value)
            value = str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else value
            return value.replace("{port}", "<port>")

        env = " ".join(f"{k}={shown(v)}" for k, v in self.env.items())
        return f"{env} {' '.join(map(shown, self.argv))}".strip()


def base_env() -> dict[str, str]:
    """A minimal environment for a child: the basics of the harness's own, unbuffered output, quiet TF C++ logs."""
    env = {k: v for k, v in os.environ.items() if k in _INHERITED}
    env.update({"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    return env


def ours(model_uri: str, extra_env: Mapping[str, str], key: str = "ours") -> ServerSpec:
    """This server, ``python -m app``, with default settings overridden only by ``extra_env``."""
    extra = ", ".join(f"{k}={v}" for k, v in extra_env.items())
    label = f"ours ({extra})" if extra else "ours"
    env = {"MODEL_URI": model_uri, "HOST": "127.0.0.1", "PORT": "{port}", **extra_env}
    return ServerSpec(key, label, "ours", (sys.executable, "-m", "app"), env)


def seed(keras_path: str) -> ServerSpec:
    """Baseline (a): the blog post's Keras ``model.predict`` server."""
    argv = (sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}", *GUNICORN_ARGS)
    return ServerSpec(
        "seed",
        "(a) seed pattern",
        "seed",
        (*argv, "benchmarks.baselines.seed_flask:app"),
        {"SEED_MODEL_PATH": keras_path},
    )


def simple(saved_model_dir: str) -> ServerSpec:
    """Baseline (b): Flask calling the SavedModel signature directly."""
    argv = (sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:{port}", *GUNICORN_ARGS)
    return ServerSpec(
        "simple",
        "(b) careful-simple",
        "simple",
        (*argv, "benchmarks.baselines.simple_signature:app"),
        {"MODEL_PATH": saved_model_dir},
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A started server: its process (group leader), base url, log file and time to first prediction."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    first_prediction_s: float = 0.0
    digit: int = -1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def post_predict(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """One ``POST /predict`` on a fresh connection; returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_first_prediction(server: RunningServer, body: bytes, started: float, timeout: float, interval: float) -> None:
    """Poll ``POST /predict`` every ``interval`` s until a 200; record the time since ``started`` and the digit."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.spec.label} exited with {server.process.returncode}\n{log_tail(server)}")
        status, payload = 0, b""
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, payload = post_predict(server.port, body)
        if status == 200:
            server.first_prediction_s = time.monotonic() - started
            server.digit = int(json.loads(payload)["predictions"][0]["digit"])
            return
        if status not in (0, 503):  # 503 is "not ready yet"; anything else will not get better by waiting
            raise ServerFailed(f"{server.spec.label} answered {status}: {payload[:200]!r}\n{log_tail(server)}")
        time.sleep(interval)
    raise ServerFailed(f"{server.spec.label} gave no prediction within {timeout:.0f}s\n{log_tail(server)}")


@contextlib.contextmanager
def start(
    spec: ServerSpec,
    body: bytes,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    interval: float = 0.05,
) -> Iterator[RunningServer]:
    """Start ``spec`` on a free port, wait for its first prediction, yield it; always stop its process group."""
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in spec.argv]
    full_env = {**base_env(), **(env or {}), **{k: v.replace("{port}", str(port)) for k, v in spec.env.items()}}
    started = time.monotonic()
    with procs.running(argv, full_env, ROOT, log_path) as process:
        server = RunningServer(spec, process, port, log_path)
        wait_first_prediction(server, body, started, timeout, interval)
        yield server


def log_tail(server: RunningServer, chars: int = 3000) -> str:
    """The end of the server's combined stdout/stderr."""
    try:
        return server.log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
