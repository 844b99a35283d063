"""/metrics through a real gunicorn with two workers: counts aggregate over workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.metrics_text import sample
from tests.integration.server import run_server


def test_metrics_aggregate_over_two_workers(toy_model_dir, tmp_path):
    prom = tmp_path / "prom"
    env = {
        "MODEL_URI": str(toy_model_dir),
        "MODEL_NAME": "toy",
        "WORKERS": "2",
        "THREADS": "8",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
    }
    with run_server(env, tmp_path) as server:

        def call(i):
            return requests.post(
                server.url + "/v1/models/toy:predict", json={"instances": [[i, 0, 0]] * (1 + i % 3)}, timeout=30
            ).status_code

        def counting_workers() -> int:
            return len({p.name.rsplit("_", 1)[1] for p in prom.glob("counter_*.db")})

        # gunicorn gives no say in which worker accepts a connection: send rounds of concurrent requests until
        # both workers have counted some (bounded), then check the totals add up across them.
        statuses: list[int] = []
        with ThreadPoolExecutor(16) as pool:
            for _ in range(10):
                statuses += pool.map(call, range(len(statuses), len(statuses) + 100))
                if counting_workers() >= 2:
                    break
        bad = requests.post(server.url + "/predict", json={"inputs": 5.0}, timeout=10)  # the graph refuses a scalar
        text = requests.get(server.url + "/metrics", timeout=10).text
    sent = len(statuses)
    assert statuses == [200] * sent and bad.status_code == 400
    assert counting_workers() >= 2, "both workers served and wrote samples"
    predict = "/v1/models/{name}:predict"
    assert sample(text, "model_server_requests_total", route=predict, model_version="7", status="200") == sent
    assert sample(text, "model_server_requests_total", route="/predict", model_version="7", status="400") == 1
    assert sample(text, "model_server_request_duration_seconds_count", route=predict) == sent
    rows = sample(text, "model_server_batch_size_rows_sum", signature="serving_default")
    calls = sample(text, "model_server_batch_size_rows_count", signature="serving_default")
    assert rows == sum(1 + i % 3 for i in range(sent)), "every request's rows went through one model call"
    assert (
        calls >= 1
        and sample(text, "model_server_model_call_duration_seconds_count", signature="serving_default") >= calls
    )
    assert (
        sample(
            text,
            "model_server_build_info",
            version="0.1.0",
            model_name="toy",
            model_version="7",
            tensorflow_version="2.21.0",
        )
        == 1
    )
    assert sample(text, "model_server_model_load_seconds", phase="total") > 0
    assert sample(text, "model_server_device_info", device="CPU") == 1  # this machine has no GPU
    assert "model_server_queue_depth" in text
