"""Batching under a real gunicorn with several workers: every response equals the unbatched result."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests

from app.model import Model
from tests.integration.server import run_server


def test_concurrent_mixed_batch_sizes_match_unbatched_results(mnist_base_dir, tmp_path):
    from model_export.mnist import load_data

    images = load_data()[2][:60]
    rng = random.Random(0)
    requests_rows = []
    start = 0
    while start < len(images):
        n = rng.randint(1, 7)
        requests_rows.append(images[start : start + n])
        start += n
    model = Model.load(mnist_base_dir / "1")
    expected = [model.run("serving_default", {"image": rows}) for rows in requests_rows]

    env = {
        "MODEL_URI": str(mnist_base_dir),
        "WORKERS": "2",
        "THREADS": "16",
        "MAX_BATCH_SIZE": "64",
        "LOG_LEVEL": "DEBUG",
    }
    with run_server(env, tmp_path) as server:

        def call(rows):
            return requests.post(server.url + "/predict", json={"instances": rows.tolist()}, timeout=60)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(call, requests_rows * 3))
        log = server.log()
    for i, r in enumerate(responses):
        assert r.status_code == 200, r.text
        want = expected[i % len(requests_rows)]
        got = r.json()["predictions"]
        assert [p["digit"] for p in got] == want["digit"].tolist()
        np.testing.assert_allclose([p["probabilities"] for p in got], want["probabilities"], rtol=1e-4, atol=1e-6)
    assert "rows from" in log, "some requests were merged into one model call"
