"""The prediction and feedback entries: one structured line each, through the app's logging (``app.logs``).

``StructuredLogHandler`` turns ``json_fields`` into the line's fields and ``labels`` into
``logging.googleapis.com/labels``, and adds the request's trace. The format is docs/prediction-logs.md's; a BigQuery
view reads it (terraform/sql/prediction_quality.sql), so a change of name or type here is a change of that contract.
"""

from __future__ import annotations

import logging
import random as _random
from collections.abc import Callable, Collection, Mapping

import numpy as np

from app.prediction_log.values import JsonInput, Loggable, encode, fit
from app.settings import PredictionLogSettings

# Entries are data the operator asked for with PREDICTION_LOG_SAMPLE, not diagnostics: this logger writes them at
# INFO whatever LOG_LEVEL says (the root handler has no level of its own).
log = logging.getLogger("app.prediction_log")

ENTRY_BUDGET = 200_000
"""Most bytes of inputs and outputs JSON in one entry; Cloud Logging refuses entries over 256 KB."""


def rows_of(values: Mapping[str, Loggable]) -> int:
    """The rows of a request: the first dimension of its first input of rank 1 or more (1 if all are scalars)."""
    for value in values.values():
        arr = value.tensor if isinstance(value, JsonInput) else value
        if arr.ndim:
            return int(arr.shape[0])
    return 1


class PredictionLog:
    """Writes a sample of prediction entries (``PREDICTION_LOG_SAMPLE``) and every feedback entry."""

    def __init__(self, settings: PredictionLogSettings, random: Callable[[], float] = _random.random) -> None:
        """``random`` draws the sampling decisions (a seeded ``random.Random(...).random`` in tests)."""
        self.sample = settings.sample
        self.max_bytes = settings.max_bytes
        self._redact = frozenset(settings.redact)
        self._random = random
        log.setLevel(logging.INFO)

    def sampled(self) -> bool:
        """Whether this request gets an entry: one comparison when the sample is 0, one draw otherwise."""
        return self.sample > 0.0 and self._random() < self.sample

    def prediction(
        self,
        *,
        request_id: str,
        model_name: str,
        model_version: int,
        protocol: str,
        signature: str,
        inputs: Mapping[str, Loggable],
        outputs: Mapping[str, np.ndarray],
        latency_ms: float,
        as_bytes: Collection[str] = (),
    ) -> None:
        """Write one prediction entry. ``as_bytes``: inputs the request sent as raw bytes (logged as a summary)."""
        try:
            logged_inputs = encode(inputs, self._redact, self.max_bytes, as_bytes)
            logged_outputs = encode(outputs, self._redact, self.max_bytes, ())
            fit([(logged_inputs, inputs), (logged_outputs, outputs)], ENTRY_BUDGET)
        except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError; the response is unharmed
            log.warning("prediction entry of request %s not written: %s", request_id, exc)
            return
        self._write(
            "prediction",
            {
                "request_id": request_id,
                "model_name": model_name,
                "model_version": str(model_version),
                "protocol": protocol,
                "signature": signature,
                "rows": rows_of(inputs),
                "inputs": logged_inputs.text(),
                "outputs": logged_outputs.text(),
                "truncated": bool(logged_inputs.summarized or logged_outputs.summarized),
                "latency_ms": round(latency_ms, 3),
            },
        )

    def feedback(self, *, request_id: str, model_name: str, labels: str) -> None:
        """Write one feedback entry: the true ``labels`` (JSON text of a list) of prediction ``request_id``."""
        self._write("feedback", {"request_id": request_id, "model_name": model_name, "labels": labels})

    @staticmethod
    def _write(entry_type: str, fields: dict) -> None:
        log.info(
            entry_type,
            extra={"json_fields": {"entry_type": entry_type, **fields}, "labels": {"entry_type": entry_type}},
        )
