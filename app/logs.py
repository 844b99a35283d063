"""Logging: google-cloud-logging's structured JSON on stdout (one object per line), or plain text for local dev.

In JSON mode every line has ``severity`` and ``message``; lines logged during a request also carry
``logging.googleapis.com/trace`` (from ``traceparent`` or ``X-Cloud-Trace-Context``) and ``httpRequest``, which
Cloud Logging uses to group a request's lines. Gunicorn's own logger goes through the same handler.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

from app.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class BootFailureEcho(logging.Filter):
    """Demote gunicorn's own lines about a worker that failed to boot to WARNING.

    The cause is already logged once, as one ERROR line ("model load failed: ..."); gunicorn then adds
    "Worker exited with code 3", "Shutting down" and "Reason: Worker failed to boot" at ERROR, which would
    triple the alert for one failure.
    """

    _ECHOES = ("Worker (pid:%s) exited with code %s.", "Shutting down: %s", "Reason: %s")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.msg in self._ECHOES:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def gunicorn_logger_class() -> type:
    """gunicorn's Logger without its access log: the app writes one structured access line per request.

    gunicorn turns its access log on whenever a logging config is given and then formats every request's
    atoms, only for our config to drop the line; that costs several percent of a worker's CPU.
    """
    from gunicorn.glogging import Logger

    class AppLogger(Logger):
        def _compute_access_log_enabled(self) -> bool:
            return False

    return AppLogger


def structured_handler(project_id: str = "") -> logging.Handler:
    """google-cloud-logging's StructuredLogHandler writing to stdout."""
    import google.cloud.logging_v2 as logging_v2
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    # The library prints a one-off diagnostic entry on first use; it is noise in a container's log.
    logging_v2._instrumentation_emitted = True
    return StructuredLogHandler(stream=sys.stdout, project_id=project_id or None)


def text_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def log_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict, also handed to gunicorn as its ``logconfig_dict``."""
    if settings.log_format == "json":
        handler: dict[str, Any] = {"()": structured_handler, "project_id": settings.project_id}
    else:
        handler = {"()": text_handler}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"boot_failure_echo": {"()": BootFailureEcho}},
        "handlers": {"stdout": {**handler, "filters": ["boot_failure_echo"]}},
        "root": {"level": settings.log_level, "handlers": ["stdout"]},
        "loggers": {
            # Route gunicorn's lines through the root handler; access lines come from the app itself.
            "gunicorn.error": {"level": settings.log_level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # TensorFlow and absl are chatty at INFO.
            "tensorflow": {"level": "WARNING"},
            "absl": {"level": "WARNING"},
        },
    }


def setup_logging(settings: Settings) -> None:
    """Configure the root logger for this process."""
    logging.config.dictConfig(log_config(settings))
