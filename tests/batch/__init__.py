"""Tests of the batch prediction job (``python -m app.batch``)."""
