"""The do-nothing WSGI app (reads the body, answers ``{}``) behind each front under test; run by gunicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app.settings import FrontSettings
from app.web.front import Front


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read the whole body, as the real app does, and answer a 2-byte JSON object."""
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def ours() -> Front:
    """gunicorn's asyncio worker running our front with its default settings."""
    return Front(wsgi, FrontSettings(), [])


def a2wsgi() -> Any:
    """gunicorn's asyncio worker running a2wsgi's WSGI-in-a-thread-pool adapter (8 threads, as ours)."""
    from a2wsgi import WSGIMiddleware

    return WSGIMiddleware(wsgi, workers=8)
