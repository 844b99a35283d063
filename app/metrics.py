"""Prometheus metrics, correct with several gunicorn workers (prometheus-client's multiprocess mode).

``app.server`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers fork; each worker
writes its samples there and ``GET /metrics`` aggregates them. Without that variable (tests, functions-framework)
the ordinary in-process registry is used. Nothing here knows about HTTP.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REQUESTS = Counter(
    "model_server_requests_total",
    "HTTP requests answered, by route, model version and status code.",
    ["route", "model_version", "status"],
)
REQUEST_LATENCY = Histogram(
    "model_server_request_duration_seconds",
    "Time from request start to response, by route.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
MODEL_LATENCY = Histogram(
    "model_server_model_call_duration_seconds",
    "Duration of one model (signature) call, batched or not.",
    ["signature"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "model_server_batch_size_rows",
    "Rows per model call (more than a request's rows when requests were merged).",
    ["signature"],
    buckets=_BATCH_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "model_server_queue_depth",
    "Requests waiting for the model, by signature (summed over workers).",
    ["signature"],
    multiprocess_mode="livesum",
)
SHED = Counter(
    "model_server_shed_total",
    "Requests refused with 503: a signature's batching queue was full, or in-flight / queue-wait at the front.",
    ["signature"],
)
LOAD_SECONDS = Gauge(
    "model_server_model_load_seconds",
    "Cold-start phase durations of the newest worker (import, download, load, warmup, total).",
    ["phase"],
    multiprocess_mode="mostrecent",
)
BUILD_INFO = Gauge(
    "model_server_build_info",
    "Always 1; labels describe the server and the served model.",
    ["version", "model_name", "model_version", "tensorflow_version"],
    multiprocess_mode="max",
)


DEVICE_INFO = Gauge(
    "model_server_device_info",
    "Always 1, one sample per device TensorFlow serves on: CPU, or GPU:N (name).",
    ["device"],
    multiprocess_mode="max",
)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric (aggregated over workers in multiprocess mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn ``child_exit`` hook: drop the dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
