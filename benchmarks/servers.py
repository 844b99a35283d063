"""The servers under test: how each is started, and waiting for its first successful prediction.

All serve the same trained weights on 127.0.0.1. Ours and the baselines answer ``POST /predict`` with
``{"instances": [...]}``; the peers speak their own protocol (``benchmarks.protocols``) from their own venv:

- ``ours``: ``python -m app`` with default settings (plus any ``--ours-env`` configuration);
- ``seed`` (a): ``benchmarks/baselines/seed_flask.py`` under ``gunicorn --workers 1 --threads 8 --timeout 0``;
- ``simple`` (b): ``benchmarks/baselines/simple_signature.py`` under the same gunicorn command;
- ``mlserver``: MLServer 1.7 with ``benchmarks/peers/mlserver_runtime.py`` and its adaptive batching (V2 protocol);
- ``bentoml``: BentoML 1.4 serving ``benchmarks/peers/bento_service.py`` with its adaptive batching.
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

from benchmarks import procs, protocols

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
    """How to start one server and talk to it. ``{port}`` in ``argv`` and ``env`` values is replaced at start.

    ``argv[0]`` is the harness's own interpreter, or a peer's command in its venv. ``path`` is where predictions
    are POSTed and ``protocol`` (``benchmarks.protocols``) says which request body the server gets and where its
    answer holds the predicted digit. ``starting`` are the statuses it answers while it is still loading its model.
    """

    key: str
    label: str
    kind: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    path: str = "/predict"
    protocol: str = protocols.TF_SERVING
    starting: tuple[int, ...] = (503,)

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


#: What ``--servers`` may name: ours (with each ``--ours-env`` configuration), baselines (b) and (a), the peers.
SERVER_KEYS = ("ours", "simple", "seed", "mlserver", "bentoml")

#: Each peer's venv, created by ``make peer-venvs`` from ``benchmarks/peers/requirements-<key>.txt``.
PEER_VENVS = {"mlserver": ROOT / ".venv-mlserver", "bentoml": ROOT / ".venv-bentoml"}
PEER_LABELS = {"mlserver": "MLServer 1.7", "bentoml": "BentoML 1.4"}

#: MLServer's adaptive batching: up to 32 requests per batch (a full batch at c=32, two at c=64), and a batch
#: waits at most 5 ms for more (MLServer's batcher waits that long whenever the batch is not full, so this is the
#: latency it adds at low concurrency). Two inference worker processes, one per core, beside the HTTP process
#: (which batches): in a quick run on this 2-core machine they gave ~1.8× the req/s at c=32 of MLServer's default
#: single worker (391 vs 222 req/s), so the comparison uses MLServer's better configuration.
MLSERVER_BATCHING = {"max_batch_size": 32, "max_batch_time": 0.005}
MLSERVER_PARALLEL_WORKERS = 2

#: BentoML's adaptive batching: up to 64 images per call (our server's MAX_BATCH_SIZE default); its dispatcher
#: chooses how long to wait from the latencies it observes, and answers 503 rather than let a request wait over
#: ``max_latency_ms``, 1 s here: far above any closed-loop latency of this model, so it bounds nothing measured.
#: Two worker processes, one per core, each with its own HTTP server, batcher and model: in a quick run on this
#: 2-core machine they gave ~1.6× the req/s at c=32 of one worker (244 vs 154 req/s).
BENTOML_BATCHING = {"max_batch_size": 64, "max_latency_ms": 1000}
BENTOML_WORKERS = 2


def peer_command(key: str) -> Path:
    """The peer's own command (``mlserver``, ``bentoml``) in its venv: a script run by the venv's interpreter."""
    return PEER_VENVS[key] / "bin" / key


def missing_peer(key: str) -> str:
    """Why the peer ``key`` cannot be measured ("" if its venv is there)."""
    if peer_command(key).exists():
        return ""
    venv = PEER_VENVS[key].name
    return f"{venv} not found (create it with `make peer-venvs`; `make bench` does it first)"


def mlserver(saved_model_dir: str, settings_dir: Path) -> ServerSpec:
    """MLServer serving the SavedModel through ``benchmarks/peers/mlserver_runtime.py``; writes its settings first.

    ``settings_dir`` gets ``settings.json`` (server) and ``mnist/model-settings.json`` (model, batching). The HTTP
    port comes from ``MLSERVER_HTTP_PORT``; the gRPC and metrics servers it always starts get free ports (0).
    """
    model_dir = settings_dir / "mnist"
    model_dir.mkdir(parents=True, exist_ok=True)
    server_settings = {
        "host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "parallel_workers": MLSERVER_PARALLEL_WORKERS,
        "debug": False,  # no access log line per request, no debug logging
        "metrics_dir": str(settings_dir / "metrics"),  # not MLServer's default, the current directory
        "environments_dir": str(settings_dir / "envs"),
    }
    model_settings = {
        "name": "mnist",
        "implementation": "benchmarks.peers.mlserver_runtime.SavedModelRuntime",
        "parameters": {"uri": saved_model_dir},
        **MLSERVER_BATCHING,
    }
    (settings_dir / "settings.json").write_text(json.dumps(server_settings, indent=2) + "\n")
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
    argv = (str(peer_command("mlserver")), "start", str(settings_dir))
    env = {"MLSERVER_HTTP_PORT": "{port}", "PYTHONPATH": str(ROOT)}
    path = "/v2/models/mnist/infer"
    # MLServer serves HTTP while it loads its models: 404 (no such model yet), then 400 "not ready yet".
    starting = (400, 404, 503)
    return ServerSpec("mlserver", PEER_LABELS["mlserver"], "mlserver", argv, env, path, protocols.V2, starting)


def bentoml(saved_model_dir: str, home: Path) -> ServerSpec:
    """BentoML serving ``benchmarks/peers/bento_service.py``; ``home`` is its BENTOML_HOME (not ``~/bentoml``)."""
    argv = (
        str(peer_command("bentoml")),
        "serve",
        "benchmarks.peers.bento_service:MnistService",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--working-dir",
        str(ROOT),
    )
    env = {
        "MODEL_PATH": saved_model_dir,
        "BENTO_WORKERS": str(BENTOML_WORKERS),
        "BENTO_MAX_BATCH_SIZE": str(BENTOML_BATCHING["max_batch_size"]),
        "BENTO_MAX_LATENCY_MS": str(BENTOML_BATCHING["max_latency_ms"]),
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "True",  # no usage analytics sent anywhere
    }
    return ServerSpec("bentoml", PEER_LABELS["bentoml"], "bentoml", argv, env, "/predict", protocols.BENTOML)


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


def post_predict(port: int, body: bytes, timeout: float = 5.0, path: str = "/predict") -> tuple[int, bytes]:
    """One ``POST path`` on a fresh connection; returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_first_prediction(server: RunningServer, body: bytes, started: float, timeout: float, interval: float) -> None:
    """Poll the spec's predict path every ``interval`` s until a 200; record the time since ``started`` and the
    digit read from the answer as the spec's protocol says."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.spec.label} exited with {server.process.returncode}\n{log_tail(server)}")
        status, payload = 0, b""
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, payload = post_predict(server.port, body, path=server.spec.path)
        if status == 200:
            server.first_prediction_s = time.monotonic() - started
            server.digit = protocols.predicted_digit(server.spec.protocol, payload)
            return
        if status not in (0, *server.spec.starting):  # anything but "not ready yet" will not get better by waiting
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
