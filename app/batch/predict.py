"""Lines -> model -> one outcome per line, with bad lines isolated instead of failing the job.

Each line is one instance in TF Serving's row format, decoded by the server's own codec (``app.codecs``), so a
line is valid here exactly when it would be valid in ``{"instances": [line]}``. A batch of plain numeric lines
is first decoded in one step (``dense.py``); any doubt there, or a batch the model rejects, goes to the general
path: each line parsed on its own, the batch decoded by the codec. A batch that the codec or the graph rejects is
narrowed down: lines that are invalid on their own are reported, the rest are tried together once more, and if
the graph still rejects them they are run line by line, so only the bad lines are reported.

``prepare`` (reading the lines, parsing, decoding) and ``outcomes`` (the model call) are separate steps so that
the job can prepare the next batch while the model runs this one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np

from app.codecs import jsonio
from app.codecs.dense import DenseLines
from app.codecs.limits import Limits
from app.codecs.tfserving import decode_predict
from app.codecs.values import output_to_json
from app.errors import InvalidInput
from app.prediction_log import PredictionLog
from app.predictor import Predictor, check_inputs
from app.settings import Settings


class Sampled(NamedTuple):
    """A line chosen for a prediction entry (``--prediction-log-sample``): its row of the model call."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    latency_ms: float
    """The model call of the line's batch."""


@dataclass(frozen=True)
class Predicted:
    """A line's prediction as a JSON-ready value (TF Serving's row format: one value, or an object of outputs)."""

    value: Any
    nonfinite: bool
    sampled: Sampled | None = None


@dataclass(frozen=True)
class Rejected:
    """Why a line got no prediction (a client error message: never the line's content)."""

    reason: str


Outcome = Predicted | Rejected


class Parsed(NamedTuple):
    """The instances of a batch parsed one by one: the JSON values, and the lines that are not JSON."""

    rows: list[Any]
    positions: list[int]
    """The position in the batch of each row."""
    rejected: dict[int, Rejected]


class Prepared(NamedTuple):
    """A batch of lines made ready for the model call."""

    lines: Sequence[bytes]
    instances: list[int]
    """Positions of the lines that are instances (not blank)."""
    inputs: dict[str, np.ndarray] | None
    """Every instance decoded in one step, when the dense shortcut applied; else ``parsed`` is set."""
    parsed: Parsed | None


def parse_line(data: bytes) -> Any:
    """One JSON value; raises InvalidInput (worded for a line, not a request body)."""
    try:
        return jsonio.loads(data)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("request body", "line", 1)) from None


class BatchPredictor:
    """Runs batches of lines through one signature of a loaded predictor's model."""

    def __init__(
        self,
        predictor: Predictor,
        signature: str | None,
        settings: Settings,
        batch_size: int,
        prediction_log: PredictionLog | None = None,
    ) -> None:
        """``prediction_log``: where sampled lines are written as prediction entries (None: no entries)."""
        self.predictor = predictor
        self.prediction_log = prediction_log
        self.signature = predictor.signature(signature)
        # The server's limits, per line as the server applies them per request: a batch may hold batch_size
        # lines each as large as one request may be.
        self.limits = Limits(
            max_instances=batch_size,
            max_elements=settings.max_elements * batch_size,
            max_nesting_depth=settings.max_nesting_depth,
            max_string_bytes=settings.max_string_bytes,
        )
        self.dense = DenseLines.for_signature(self.signature, self.limits)

    def prepare(self, lines: Sequence[bytes]) -> Prepared:
        """Find the instances of a batch of lines and decode them (in one step when possible) or parse them."""
        instances = [i for i, line in enumerate(lines) if line and not line.isspace()]
        inputs = None
        if self.dense is not None and instances:
            inputs = self.dense.decode([lines[i] for i in instances])
        return Prepared(lines, instances, inputs, None if inputs is not None else _parse(lines, instances))

    def outcomes(self, batch: Prepared) -> list[Outcome | None]:
        """One outcome per line of ``batch``, None for a blank line (nothing to predict or report)."""
        size = len(batch.lines)
        if batch.inputs is not None:
            try:
                return _spread(size, batch.instances, self._run(batch.inputs, len(batch.instances)))
            except InvalidInput:  # a line the shortcut cannot judge (its shape, the graph's checks): find which
                rows = [parse_line(batch.lines[i]) for i in batch.instances]  # JSON all: the shortcut read them
                return _spread(size, batch.instances, self._narrow(rows))
        parsed = cast(Parsed, batch.parsed)  # set whenever the shortcut did not apply
        outcomes = _spread(size, parsed.positions, self.predict(parsed.rows) if parsed.rows else [])
        for position, rejected in parsed.rejected.items():
            outcomes[position] = rejected
        return outcomes

    def predict(self, rows: Sequence[Any]) -> list[Outcome]:
        """One outcome per row (a parsed line), in order."""
        try:
            return self._call(rows)
        except InvalidInput as exc:
            if len(rows) == 1:
                return [Rejected(exc.message)]
        return self._narrow(rows)

    def _narrow(self, rows: Sequence[Any]) -> list[Outcome]:
        """One outcome per row of a batch that failed as a whole: only the rows at fault are rejected."""
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
        return self._run(self._decode(rows), len(rows))

    def _run(self, inputs: dict[str, np.ndarray], rows: int) -> list[Outcome]:
        # Predictor.run, not Predictor.predict: a job needs no readiness gate or request batcher, but its inputs are
        # watched for drift like the server's.
        check_inputs(self.signature, inputs)
        started = time.perf_counter()
        outputs = self.predictor.run(self.signature.name, inputs)
        predictions = _rows_of(outputs, rows)
        if self.prediction_log is not None:  # each line is sampled on its own, as a request is
            latency_ms = (time.perf_counter() - started) * 1000
            for i, predicted in enumerate(predictions):
                if self.prediction_log.sampled():
                    row = Sampled(_row(inputs, i), _row(outputs, i), latency_ms)
                    predictions[i] = dataclasses.replace(predicted, sampled=row)
        return predictions

    def log_sampled(self, request_ids: Sequence[str], outcomes: Sequence[Outcome | None]) -> None:
        """Write the prediction entries of the sampled lines among ``outcomes`` (one request id per line)."""
        if self.prediction_log is None:
            return
        for request_id, outcome in zip(request_ids, outcomes, strict=True):
            if isinstance(outcome, Predicted) and outcome.sampled is not None:
                self.prediction_log.prediction(
                    request_id=request_id,
                    model_name=self.predictor.name,
                    model_version=self.predictor.version,
                    protocol="batch",
                    signature=self.signature.name,
                    inputs=outcome.sampled.inputs,
                    outputs=outcome.sampled.outputs,
                    latency_ms=outcome.sampled.latency_ms,
                )


def _spread(size: int, positions: list[int], outcomes: list[Outcome]) -> list[Outcome | None]:
    """``outcomes`` placed at ``positions`` in a list of ``size`` (None elsewhere)."""
    spread: list[Outcome | None] = [None] * size
    for position, outcome in zip(positions, outcomes, strict=True):
        spread[position] = outcome
    return spread


def _parse(lines: Sequence[bytes], positions: list[int]) -> Parsed:
    parsed = Parsed([], [], {})
    for position in positions:
        try:
            parsed.rows.append(parse_line(lines[position]))
            parsed.positions.append(position)
        except InvalidInput as exc:
            parsed.rejected[position] = Rejected(exc.message)
    return parsed


def _row(arrays: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """Row ``index`` of each array, as a batch of one (views, not copies)."""
    return {name: array[index : index + 1] for name, array in arrays.items()}


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
