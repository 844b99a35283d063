"""Lines -> model -> one outcome per line, with bad lines isolated instead of failing the job.

Each line is one instance in TF Serving's row format, decoded by the server's own codec (``app.codecs``), so a
line is valid here exactly when it would be valid in ``{"instances": [line]}``. A batch that the codec or the
graph rejects is narrowed down: lines that are invalid on their own are reported, the rest are tried together
once more, and if the graph still rejects them they are run line by line, so only the bad lines are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from app.codecs import jsonio
from app.codecs.limits import Limits
from app.codecs.tfserving import decode_predict
from app.codecs.values import output_to_json
from app.errors import InvalidInput
from app.predictor import Predictor, check_inputs
from app.settings import Settings


@dataclass(frozen=True)
class Predicted:
    """A line's prediction as a JSON-ready value (TF Serving's row format: one value, or an object of outputs)."""

    value: Any
    nonfinite: bool


@dataclass(frozen=True)
class Rejected:
    """Why a line got no prediction (a client error message: never the line's content)."""

    reason: str


Outcome = Predicted | Rejected


def parse_line(data: bytes) -> Any:
    """One JSON value; raises InvalidInput (worded for a line, not a request body)."""
    try:
        return jsonio.loads(data)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("request body", "line", 1)) from None


class BatchPredictor:
    """Runs rows (parsed JSON lines) through one signature of a loaded, ready predictor."""

    def __init__(self, predictor: Predictor, signature: str | None, settings: Settings, batch_size: int) -> None:
        self.predictor = predictor
        self.signature = predictor.signature(signature)
        # The server's limits, per line as the server applies them per request: a batch may hold batch_size
        # lines each as large as one request may be.
        self.limits = Limits(
            max_instances=batch_size,
            max_elements=settings.max_elements * batch_size,
            max_nesting_depth=settings.max_nesting_depth,
            max_string_bytes=settings.max_string_bytes,
        )

    def predict(self, rows: Sequence[Any]) -> list[Outcome]:
        """One outcome per row, in order."""
        try:
            return self._call(rows)
        except InvalidInput as exc:
            if len(rows) == 1:
                return [Rejected(exc.message)]
        outcomes: list[Outcome | None] = [None] * len(rows)
        valid = []
        for index, row in enumerate(rows):
            try:
                self._validate(row)
                valid.append(index)
            except InvalidInput as exc:
                outcomes[index] = Rejected(exc.message)
        if 0 < len(valid) < len(rows):  # some lines were malformed: the others may well succeed together
            try:
                results = self._call([rows[i] for i in valid])
            except InvalidInput:
                pass
            else:
                for index, result in zip(valid, results, strict=True):
                    outcomes[index] = result
                valid = []
        for index in valid:  # the graph rejected a batch of valid-looking lines: find the ones it rejects
            try:
                (outcomes[index],) = self._call([rows[index]])
            except InvalidInput as exc:
                outcomes[index] = Rejected(exc.message)
        return cast(list[Outcome], outcomes)  # every slot was filled above

    def _decode(self, rows: Sequence[Any]) -> dict[str, np.ndarray]:
        body = {"instances": list(rows)}
        return decode_predict(body, lambda _name: self.signature, self.limits).inputs

    def _validate(self, row: Any) -> None:
        check_inputs(self.signature, self._decode([row]))

    def _call(self, rows: Sequence[Any]) -> list[Outcome]:
        outputs = self.predictor.predict(self._decode(rows), self.signature.name)
        return _rows_of(outputs, len(rows))


def _rows_of(outputs: dict[str, np.ndarray], rows: int) -> list[Outcome]:
    """Split batched outputs into one prediction per row, as TF Serving's row format does."""
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != rows:
            raise RuntimeError(f"output {name!r} has shape {array.shape} for a batch of {rows} rows")
    nonfinite = jsonio.has_nonfinite(outputs.values())
    values = {name: output_to_json(name, array) for name, array in outputs.items()}
    if len(values) == 1:
        (only,) = values.values()
        return [Predicted(only[i], nonfinite) for i in range(rows)]
    return [Predicted({name: value[i] for name, value in values.items()}, nonfinite) for i in range(rows)]
