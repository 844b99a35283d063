"""Input drift monitoring: live feature values against the training baseline, by a two-sample KS test.

``DriftMonitor.from_saved_model`` reads ``assets.extra/feature_baseline.json`` (format: ``app.drift_baseline``);
without it the monitor is off. ``observe`` is on the request path: it turns a request's inputs into feature
values (vectorised, O(rows)) and appends them to a fixed-size ring buffer per feature, the last ``DRIFT_WINDOW``
values. Every ``DRIFT_EVAL_EVERY`` observed rows (and on ``report``) each feature with at least
``DRIFT_MIN_SAMPLES`` live values is tested against its baseline sample (``app.ks``); the result goes to the
Prometheus gauges (``app.drift_metrics``), and a feature that newly drifts (p < ``DRIFT_P_THRESHOLD``) logs one
WARNING, and nothing more until it has recovered. Each gunicorn worker monitors the traffic it serves itself.
numpy only; no Flask, no TensorFlow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.drift_baseline import BASELINE_FILE, Baseline, BaselineError, FeatureBaseline, read_baseline, summarise
from app.errors import ModelLoadError
from app.ks import ks_2samp
from app.settings import DriftSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's latest test; ``statistic`` and ``p_value`` are None until it has enough live values."""

    statistic: float | None
    p_value: float | None
    drifted: bool
    samples: int
    baseline_samples: int


class RingBuffer:
    """The last ``size`` values in a fixed array (not thread-safe: the monitor locks around it)."""

    def __init__(self, size: int) -> None:
        self._values = np.empty(size, dtype=np.float64)
        self._next = 0
        self.filled = 0

    def extend(self, values: np.ndarray) -> None:
        size, count = len(self._values), len(values)
        if count >= size:
            self._values[:] = values[count - size :]
            self._next, self.filled = 0, size
            return
        head = min(count, size - self._next)
        self._values[self._next : self._next + head] = values[:head]
        self._values[: count - head] = values[head:]
        self._next = (self._next + count) % size
        self.filled = min(self.filled + count, size)

    def snapshot(self) -> np.ndarray:
        """A copy of the held values (in no particular order: the test does not care)."""
        return self._values[: self.filled].copy()


class DriftMonitor:
    """Tests live inputs of one signature against a training baseline; disabled when ``baseline`` is None."""

    def __init__(self, baseline: Baseline | None, settings: DriftSettings | None = None) -> None:
        self.settings = settings or DriftSettings()
        self.baseline = baseline
        self._features: dict[str, FeatureBaseline] = dict(baseline.features) if baseline else {}
        self._inputs = frozenset(f.input for f in self._features.values())
        self._windows = {name: RingBuffer(self.settings.window) for name in self._features}
        self._lock = threading.Lock()  # guards the windows and the row counter; held only for the copies
        self._eval_lock = threading.Lock()  # one test at a time; guards the drifted set
        self._rows_since_eval = 0
        self._drifted: set[str] = set()
        self._observe_failed = False

    @classmethod
    def from_saved_model(cls, path: Path | str, settings: DriftSettings | None = None) -> DriftMonitor:
        """The monitor for the SavedModel at ``path``; disabled (logged once) if it has no baseline."""
        try:
            baseline = read_baseline(Path(path))
        except BaselineError as exc:
            raise ModelLoadError(f"invalid drift baseline: {exc}") from exc
        if baseline is None:
            log.info("drift monitoring off: the model has no %s", BASELINE_FILE)
        else:
            log.info(
                "drift monitoring %d features of signature %s: %s",
                len(baseline.features),
                baseline.signature_name,
                ", ".join(baseline.features),
            )
        return cls(baseline, settings)

    @property
    def enabled(self) -> bool:
        return bool(self._features)

    def observe(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> None:
        """Add one request's (or batch's) feature values. Never raises: monitoring must not fail a prediction."""
        if not self._features or not self._monitors(signature_name, inputs):
            return
        try:
            self._observe(inputs)
        except Exception:  # any bug here must cost the drift data, not the request
            if not self._observe_failed:
                self._observe_failed = True
                log.error("drift monitoring failed to observe a request; it keeps trying", exc_info=True)

    def _monitors(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> bool:
        """The baseline's signature, or another one taking exactly the same inputs."""
        return signature_name == self.baseline.signature_name or self._inputs == set(inputs)

    def _observe(self, inputs: Mapping[str, np.ndarray]) -> None:
        fresh = {}
        for name, feature in self._features.items():
            batch = inputs.get(feature.input)
            if batch is None or batch.dtype.kind not in "biuf" or not _fits(feature.statistic, batch):
                continue
            values = summarise(feature.statistic, batch)
            fresh[name] = values[np.isfinite(values)]
        if not fresh:
            return
        with self._lock:
            for name, values in fresh.items():
                self._windows[name].extend(values)
            self._rows_since_eval += max(len(v) for v in fresh.values())
            due = self._rows_since_eval >= self.settings.eval_every
        # Skip rather than queue behind a test already running: its result is fresh enough.
        if due and self._eval_lock.acquire(blocking=False):
            try:
                self._evaluate()
            finally:
                self._eval_lock.release()

    def evaluate(self) -> dict[str, FeatureDrift]:
        """Test every feature now; publish the gauges and log features that newly drifted or recovered."""
        with self._eval_lock:
            return self._evaluate()

    def _evaluate(self) -> dict[str, FeatureDrift]:
        # Imported here, not at the top: gunicorn's master imports this module (to validate DRIFT_*) before it
        # sets PROMETHEUS_MULTIPROC_DIR, and prometheus_client picks its storage once, when first imported.
        from app import drift_metrics

        with self._lock:
            live = {name: window.snapshot() for name, window in self._windows.items()}
            self._rows_since_eval = 0
        results = {}
        for name, feature in self._features.items():
            values = live[name]
            if len(values) < self.settings.min_samples:
                results[name] = FeatureDrift(None, None, False, len(values), feature.n)
                continue
            statistic, p_value = ks_2samp(feature.sample, values)
            result = FeatureDrift(statistic, p_value, p_value < self.settings.p_threshold, len(values), feature.n)
            drift_metrics.record(name, statistic, p_value, result.drifted)
            self._log_change(name, result)
            results[name] = result
        return results

    def _log_change(self, name: str, result: FeatureDrift) -> None:
        fields = {
            "feature": name,
            "ks_statistic": result.statistic,
            "p_value": result.p_value,
            "window_samples": result.samples,
            "baseline_samples": result.baseline_samples,
            "p_threshold": self.settings.p_threshold,
        }
        if result.drifted and name not in self._drifted:
            self._drifted.add(name)
            log.warning(
                "input drift on feature %s: KS D=%.3f, p=%.3g < %g (window %d values, baseline %d)",
                name,
                result.statistic,
                result.p_value,
                self.settings.p_threshold,
                result.samples,
                result.baseline_samples,
                extra={"json_fields": {"event": "drift_detected", **fields}},
            )
        elif not result.drifted and name in self._drifted:
            self._drifted.discard(name)
            log.info(
                "input drift on feature %s is over: KS D=%.3f, p=%.3g",
                name,
                result.statistic,
                result.p_value,
                extra={"json_fields": {"event": "drift_recovered", **fields}},
            )

    def report(self) -> dict[str, Any]:
        """A fresh test of every feature as a JSON-ready dict (the body of ``GET /drift``)."""
        features = self.evaluate() if self.enabled else {}
        return {
            "enabled": self.enabled,
            "threshold": self.settings.p_threshold,
            "window": self.settings.window,
            "min_samples": self.settings.min_samples,
            "features": {name: asdict(result) for name, result in features.items()},
        }


def _fits(statistic: str, batch: np.ndarray) -> bool:
    """Whether ``batch`` has the rank the statistic was computed on at export: [batch] for values, more for means."""
    return batch.ndim == 1 if statistic == "value" else batch.ndim > 1
