"""The production server: gunicorn, configured for Cloud Run, loading the model in each worker after fork."""

from __future__ import annotations

import logging
import os
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
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
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


def _prepare_metrics_dir() -> None:
    """Give prometheus-client's multiprocess mode an empty directory before any worker forks."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")


class ModelServer(BaseApplication):
    """gunicorn application whose WSGI app is built (model loaded) inside each worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from app import create_app
        from app.web.front import Front

        try:
            flask_app = create_app(self.settings)
        except ModelLoadError as exc:
            # One clear line, no traceback: the cause is in the message. The master then exits non-zero.
            log.error("model load failed: %s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        return Front.for_app(flask_app)


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
    _prepare_metrics_dir()
    log.info(
        "starting %s on %s:%s (workers=%d, threads=%d), model %s from %s",
        "model server",
        settings.host,
        settings.port,
        settings.workers,
        settings.threads,
        settings.model_name,
        settings.model_uri,
    )
    ModelServer(settings).run()  # exits the process itself on a fatal error
    return 0
