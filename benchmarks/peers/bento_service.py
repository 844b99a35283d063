"""A BentoML 1.4 service serving the demo SavedModel's ``serving_default`` signature with adaptive batching.

Runs inside ``.venv-bentoml``: ``bentoml serve benchmarks.peers.bento_service:MnistService``, started by
``benchmarks.servers.bentoml``, which sets every knob in the environment (read once, at import, since BentoML
builds the service from its decorators): ``MODEL_PATH`` (the SavedModel directory), ``BENTO_WORKERS``,
``BENTO_MAX_BATCH_SIZE`` and ``BENTO_MAX_LATENCY_MS``. ``POST /predict`` takes ``{"image": [28×28×1 image, ...]}``
and answers the softmax probabilities, one row of 10 per image.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np


def _setting(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        raise SystemExit(f"{name} must be set to an integer (benchmarks.servers.bentoml sets it)") from None


# No access log line per request (BentoML's default writes one), as for MLServer.
@bentoml.service(workers=_setting("BENTO_WORKERS"), logging={"access": {"enabled": False}})
class MnistService:
    """One model per worker process, loaded and warmed up when the worker starts."""

    def __init__(self) -> None:
        import tensorflow as tf

        self._tf = tf
        self._signature = tf.saved_model.load(os.environ["MODEL_PATH"]).signatures["serving_default"]
        self._signature(image=tf.zeros([1, 28, 28, 1], tf.float32))  # warm up: trace and allocate once

    @bentoml.api(
        batchable=True,
        batch_dim=0,
        max_batch_size=_setting("BENTO_MAX_BATCH_SIZE"),
        max_latency_ms=_setting("BENTO_MAX_LATENCY_MS"),
    )
    def predict(self, image: np.ndarray) -> np.ndarray:
        """Probabilities for each image of a batch BentoML merged from concurrent requests (first axis)."""
        return self._signature(image=self._tf.constant(image.astype(np.float32, copy=False)))["probabilities"].numpy()
