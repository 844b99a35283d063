"""``predict.lua`` under the real wrk, against a tiny stdlib HTTP server (skipped where wrk is not installed)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks.load import run_wrk

WRK = shutil.which("wrk")
pytestmark = pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install -y wrk)")


class Handler(BaseHTTPRequestHandler):
    """Answers POST /predict with 200 when the body is the expected JSON, anything else with 503."""

    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = self.path == "/predict" and body == {"instances": [[0.5]]}
        reply = b'{"predictions": []}'
        self.send_response(200 if ok and self.headers["Content-Type"] == "application/json" else 503)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_posts_the_body_and_reports_requests_and_non_2xx(http_url: str, tmp_path: Path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"instances": [[0.5]]}))
    good = run_wrk(WRK, f"{http_url}/predict", body, concurrency=2, duration_s=1, timeout_s=2)
    assert good.requests > 10
    assert good.errors == 0
    assert 0 < good.p50_ms <= good.p99_ms <= good.max_ms
    bad = run_wrk(WRK, f"{http_url}/other", body, concurrency=1, duration_s=1, timeout_s=2)
    assert bad.requests > 10
    assert bad.non2xx == bad.requests
