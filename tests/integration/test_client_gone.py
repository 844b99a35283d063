"""A request whose client disconnects while it waits for the model is never computed."""

from __future__ import annotations

import json
import socket
import threading
import time

import requests

from tests.integration.metrics_text import sample
from tests.integration.server import run_server


def test_abandoned_request_is_dropped_before_the_model_runs(toy_model_dir, tmp_path):
    # One worker: the abandoned request must queue behind the first, not land on an idle second worker.
    env = {"MODEL_URI": str(toy_model_dir), "MODEL_NAME": "toy", "MAX_BATCH_SIZE": "1", "THREADS": "4", "WORKERS": "1"}
    with run_server(env, tmp_path) as server:
        slow = {"signature_name": "spin", "instances": [300_000]}
        first = threading.Thread(target=requests.post, args=(server.url + "/predict",), kwargs={"json": slow})
        first.start()
        time.sleep(0.3)  # the first request is computing; the next one waits in the batcher's queue
        body = json.dumps({"signature_name": "spin", "instances": [7]}).encode()
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.2)
        first.join(30)  # the client is gone before the model is free
        time.sleep(0.3)
        text = requests.get(server.url + "/metrics", timeout=10).text
        log = server.log()
    assert sample(text, "model_server_batch_size_rows_count", signature="spin") == 1, "only the first request ran"
    assert any('"status": 499' in line and "POST /predict" in line for line in log.splitlines())
