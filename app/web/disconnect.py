"""Noticing that a client has gone away, so queued work for it can be skipped."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any


def client_gone(environ: dict[str, Any]) -> Callable[[], bool]:
    """A cheap check: has the peer of this request's connection closed it? (False when unknown.)

    Under the production server, ``app.web.front`` hears the disconnect itself and puts the answer in the environ
    as ``app.client_gone``. Under a WSGI server that exposes the connection as ``gunicorn.socket`` (gunicorn's
    thread worker, e.g. functions-framework's), a zero-byte peek means the client sent FIN; data waiting (a
    pipelined request) or nothing to read means it is still there. The peek consumes nothing.
    """
    known = environ.get("app.client_gone")  # set by app.web.front, which hears the disconnect itself
    if known is not None:
        return known
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return _unknown

    def check() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    return check


def _unknown() -> bool:
    return False
