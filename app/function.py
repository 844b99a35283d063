"""Cloud Run functions / functions-framework entry point serving the same API as the container.

    functions-framework --target predict --source app/function.py --port 8080

Every path (``/predict``, ``/v1/...``, ``/v2/...``, ``/healthz``…) is dispatched to the same Flask app that
gunicorn serves. The model is loaded on the first request, not at import.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

# functions-framework imports this file by path; make the project importable as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, Request, Response  # noqa: E402

_app: Flask | None = None
_lock = threading.Lock()


def _get_app() -> Flask:
    global _app
    with _lock:
        if _app is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from app import create_app
            from app.logs import setup_logging
            from app.settings import Settings

            settings = Settings.from_env()
            setup_logging(settings)
            _app = create_app(settings)
        return _app


def predict(request: Request) -> Response:
    """HTTP function: hand the request to the model server app."""
    app = _get_app()
    with app.request_context(request.environ):
        return app.full_dispatch_request()
