"""Counting a task's lines and logging progress: a structured line every few seconds, and a final summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Progress:
    """Lines done so far, split into predictions, errors and blank lines, with their rate."""

    def __init__(self, task: str, interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.task = task
        self.predicted = self.errors = self.blank = 0
        self._interval = interval_seconds
        self._clock = clock
        self._started = self._last_log = clock()

    @property
    def lines(self) -> int:
        return self.predicted + self.errors + self.blank

    @property
    def seconds(self) -> float:
        return self._clock() - self._started

    def add(self, predicted: int, errors: int, blank: int) -> None:
        """Count one batch; log a progress line if the interval has passed."""
        self.predicted += predicted
        self.errors += errors
        self.blank += blank
        now = self._clock()
        if now - self._last_log >= self._interval:
            self._last_log = now
            log.info(
                "batch task %s: %d lines done (%d errors), %.0f lines/s",
                self.task,
                self.lines,
                self.errors,
                self.rate(),
                extra={"json_fields": self.fields()},
            )

    def rate(self) -> float:
        """Lines per second since the counting started (model load excluded)."""
        return self.lines / max(self.seconds, 1e-9)

    def fields(self) -> dict[str, Any]:
        """The counters as structured log fields."""
        return {
            "task": self.task,
            "lines": self.lines,
            "predicted": self.predicted,
            "errors": self.errors,
            "blank": self.blank,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.rate(), 1),
        }
