"""Prediction and feedback log entries: one structured JSON line on stdout per sampled prediction, and one per
ground-truth feedback, for a BigQuery log sink to collect (docs/prediction-logs.md). No HTTP here.

``entries`` builds and writes the entries, ``values`` turns tensors into their logged JSON (redaction, the size
limit and its summary), ``wire`` finds the inputs a request sent as raw bytes, ``feedback`` validates ground truth.
"""

from app.prediction_log.entries import PredictionLog, rows_of
from app.prediction_log.values import JsonInput

__all__ = ["JsonInput", "PredictionLog", "rows_of"]
