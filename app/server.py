"""The production server: gunicorn, configured for Cloud Run, loading the served versions in each worker after fork."""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from app.errors import ModelLoadError
from app.settings import Settings

log = logging.getLogger(__name__)

# gunicorn's exit code for "worker failed to boot": the master then stops with the same code.
WORKER_BOOT_ERROR = 3


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Every gunicorn knob we set, in one place."""
    from app.logs import gunicorn_logger_class, log_config

    return {
        "bind": [f"{settings.host}:{port}" for port in settings.ports],
        "workers": settings.worker_count,
        # Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over them: on
        # one shared socket, the worker that woke first could take all of them (the issue saw 32 of 32 on one);
        # here 32 connections split between 22/10 and 16/16 (docs/benchmarks.md).
        "reuse_port": True,
        # gunicorn's asyncio worker reads requests and sheds; the Flask app runs on THREADS threads (app.web.front).
        "worker_class": "asgi",
        "asgi_loop": "asyncio",
        "asgi_lifespan": "off",
        # Cloud Run enforces request timeouts itself; a worker busy in a long model call must not be killed.
        "timeout": 0,
        # In-flight requests get this long after SIGTERM; Cloud Run sends SIGKILL 10 s after SIGTERM.
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": 5,
        "preload_app": False,  # load the model in each worker, after fork: TF state does not survive fork.
        "logconfig_dict": log_config(settings),
        "accesslog": None,  # the app writes one structured access line per request
        "logger_class": gunicorn_logger_class(),
        # Behind Cloud Run's front end, X-Forwarded-* come from Google's proxy.
        "forwarded_allow_ips": "*",
        # gunicorn's control socket lives under $HOME, which is read-only in our containers.
        "control_socket_disable": True,
        "proc_name": f"model-server:{settings.model_name}",
        "child_exit": _child_exit,
    }


def _child_exit(server: Any, worker: Any) -> None:
    from app.metrics import worker_exited

    worker_exited(worker.pid)


def _port_in_use(host: str, port: int) -> str:
    """Why ``host:port`` cannot be listened on, or "" if it can.

    Each worker binds its own socket with SO_REUSEPORT, and Linux lets any number of such sockets of one user share
    a port: a second server started by mistake would silently take half the connections. A probe bound without
    SO_REUSEPORT fails while anything listens there, so the mistake is an error at start instead.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: TIME_WAIT leftovers are fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return ""


def _first_to_fail() -> bool:
    """True in the first worker of this server to call it (a marker file in the per-run metrics directory)."""
    try:
        os.close(os.open(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "boot-failed"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    except (KeyError, OSError):
        pass  # no run directory (a test calling load() directly): say it
    return True


def _prepare_metrics_dir() -> None:
    """Give prometheus-client's multiprocess mode an empty directory before any worker forks."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db") or name == "boot-failed":
                os.unlink(os.path.join(path, name))
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")


class ModelServer(BaseApplication):
    """gunicorn application whose WSGI app is built (every served version loaded) inside each worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_asgi_app
        from app.startup import load_served

        try:
            served = load_served(self.settings)
        except ModelLoadError as exc:
            # One clear line, no traceback: the cause is in the message. The master then exits non-zero.
            # Every worker meets the same cause; only the first to fail says it at ERROR (one alert) and exits with
            # gunicorn's "failed to boot" code, which halts the master. A second such exit reaped while the master
            # halts would escape gunicorn as a traceback, so the others exit 1 (the master reaps them quietly).
            first = _first_to_fail()
            log.log(logging.ERROR if first else logging.WARNING, "model load failed: %s", exc)
            sys.exit(WORKER_BOOT_ERROR if first else 1)
        return create_asgi_app(self.settings, served=served)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m app``."""
    from app.logs import setup_logging
    from app.settings import SettingsError

    # TensorFlow's C++ runtime logs to stderr, outside our structured logs; keep it to errors.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        setup_logging(Settings())  # the defaults: structured JSON on stdout
        log.error("invalid configuration: %s", exc)
        return 2
    setup_logging(settings)
    for port in settings.ports:
        busy = _port_in_use(settings.host, port)
        if busy:
            log.error("cannot listen on %s:%d: %s (is another server running there?)", settings.host, port, busy)
            return 1
    _prepare_metrics_dir()
    log.info(
        "starting %s on %s port %s (workers=%d, threads=%d, tensorflow threads=%d), model %s from %s (versions: %s)",
        "model server",
        settings.host,
        " and ".join(map(str, settings.ports)),
        settings.worker_count,
        settings.threads,
        settings.tf_thread_count,
        settings.model_name,
        settings.model_uri,
        settings.version_policy,
    )
    ModelServer(settings).run()  # exits the process itself on a fatal error
    return 0
