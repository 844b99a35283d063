"""Prometheus gauges for input drift (see ``app.drift``), one series per monitored feature.

Each gunicorn worker tests the traffic it served itself, so the workers' values differ slightly. In multiprocess
mode the series are aggregated over live workers towards "drift": the largest statistic, the smallest p-value and
``detected`` = 1 if any worker sees drift. A series appears once a worker has enough samples to test.
"""

from __future__ import annotations

from prometheus_client import Gauge

KS_STATISTIC = Gauge(
    "model_server_drift_ks_statistic",
    "Two-sample Kolmogorov-Smirnov statistic D between live inputs and the training baseline (max over workers).",
    ["feature"],
    multiprocess_mode="livemax",
)
P_VALUE = Gauge(
    "model_server_drift_p_value",
    "p-value of the KS test of live inputs against the training baseline (min over workers).",
    ["feature"],
    multiprocess_mode="livemin",
)
DETECTED = Gauge(
    "model_server_drift_detected",
    "1 if the feature's live distribution differs from the baseline (p below DRIFT_P_THRESHOLD in any worker).",
    ["feature"],
    multiprocess_mode="livemax",
)


def record(feature: str, statistic: float, p_value: float, drifted: bool) -> None:
    """Publish one feature's latest test result."""
    KS_STATISTIC.labels(feature).set(statistic)
    P_VALUE.labels(feature).set(p_value)
    DETECTED.labels(feature).set(1 if drifted else 0)
