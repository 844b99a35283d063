"""The predictor: validates inputs against a signature, calls the model, tracks readiness. No HTTP here."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from app import metrics
from app.batching import Batcher, BatchingSettings, is_batchable
from app.drift import DriftMonitor
from app.errors import InvalidInput, ModelLoadError, ModelNotReady, NotFound, Overloaded
from app.tensors import SignatureInfo, format_shape

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"


class Runner(Protocol):
    """What the predictor needs from a model (``app.model.Model`` or a test fake)."""

    signatures: dict[str, SignatureInfo]
    signature_defs: dict[str, Any]

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Predictor:
    """One served model version: ``predict`` takes named numpy arrays and returns named numpy arrays."""

    def __init__(self, model: Runner, name: str, version: int, source_uri: str = "") -> None:
        self.model = model
        self.name = name
        self.version = version
        self.source_uri = source_uri
        self._ready = threading.Event()
        self.batchers: dict[str, Batcher] = {}
        self.drift: DriftMonitor | None = None  # attached by load_predictor after warm-up

    def enable_batching(self, batching: BatchingSettings) -> list[str]:
        """Merge concurrent calls of every batchable signature; returns the names of those signatures."""
        if not batching.max_batch_size:
            return []
        for name, sig in self.model.signatures.items():
            if is_batchable(sig) and name not in self.batchers:
                run = functools.partial(self.run, name)
                depth = metrics.QUEUE_DEPTH.labels(name).set
                self.batchers[name] = Batcher(
                    name, run, batching.max_batch_size, batching.max_wait_s, batching.max_queue, on_depth=depth
                )
        return sorted(self.batchers)

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One model call with inputs already checked (a whole batch when batching), timed, counted and observed for
        drift. No readiness gate and no batcher: ``predict`` is the request path, this is what it ends in.

        The bookkeeping is per call, not per request: under load one call serves many requests.
        """
        started = time.perf_counter()
        outputs = self.model.run(signature_name, inputs)
        metrics.MODEL_LATENCY.labels(signature_name).observe(time.perf_counter() - started)
        rows = {len(a) for a in inputs.values() if a.ndim}
        if len(rows) == 1:
            metrics.BATCH_SIZE.labels(signature_name).observe(rows.pop())
        if self.drift is not None:
            self.drift.observe(signature_name, inputs)  # cheap, and never raises
        return outputs

    # -- readiness ---------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def mark_ready(self) -> None:
        self._ready.set()

    def mark_not_ready(self) -> None:
        """Readiness goes back to 503 (and predictions to ModelNotReady) until ``mark_ready`` is called again."""
        self._ready.clear()

    # -- signatures --------------------------------------------------------------------------------------------
    @property
    def signatures(self) -> dict[str, SignatureInfo]:
        return self.model.signatures

    @property
    def default_signature(self) -> str:
        names = sorted(self.model.signatures)
        return DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in self.model.signatures else names[0]

    def signature(self, name: str | None = None) -> SignatureInfo:
        """The signature called ``name`` (default: serving_default); InvalidInput names the available ones."""
        key = name or self.default_signature
        try:
            return self.model.signatures[key]
        except KeyError:
            available = ", ".join(sorted(self.model.signatures))
            # TF Serving's words and status (400: its GetInfoMap answers InvalidArgument), and what there is.
            raise InvalidInput(
                f'Serving signature name: "{key}" not found in signature def; model {self.name!r} has: {available}'
            ) from None

    # -- prediction --------------------------------------------------------------------------------------------
    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        signature_name: str | None = None,
        output_names: Iterable[str] | None = None,
        cancelled: Callable[[], bool] | None = None,
        any_shape: bool = False,
    ) -> dict[str, np.ndarray]:
        """Validate ``inputs`` against the signature and run it; optionally keep only ``output_names``.

        ``any_shape`` (TF Serving's REST behaviour) hands the model inputs of any shape; one the signature does not
        describe runs unbatched, and if the model rejects it the error names the shapes sent and expected.

        ``cancelled`` tells whether the caller has gone away; a batched request is then skipped (``ClientGone``).
        """
        if not self.ready:
            raise ModelNotReady(f"model {self.name!r} is not ready")
        sig = self.signature(signature_name)
        exact = check_inputs(sig, inputs, lenient=any_shape)
        wanted = list(output_names) if output_names is not None else None
        if wanted is not None:
            unknown = [n for n in wanted if n not in sig.outputs]
            if unknown:
                raise InvalidInput(
                    f"unknown output {unknown[0]!r} for signature {sig.name!r}; "
                    f"outputs are: {', '.join(sorted(sig.outputs))}"
                )
        batcher = self.batchers.get(sig.name)
        try:
            # Only signature-shaped requests are merged: rows of other shapes may not split back as they came.
            outputs = batcher.submit(inputs, cancelled) if batcher and exact else self._run_as_sent(sig, inputs, exact)
        except Overloaded:
            metrics.SHED.labels(sig.name).inc()
            raise
        return outputs if wanted is None else {n: outputs[n] for n in wanted}

    def _run_as_sent(self, sig: SignatureInfo, inputs: Mapping[str, np.ndarray], exact: bool) -> dict[str, np.ndarray]:
        try:
            return self.run(sig.name, inputs)
        except InvalidInput as exc:
            if exact:
                raise
            shapes = ", ".join(f"{n} {format_shape(a.shape)}" for n, a in inputs.items())
            wanted = ", ".join(f"{n} {format_shape(i.shape)}" for n, i in sig.inputs.items())
            raise InvalidInput(
                f"the model rejected inputs of shape {shapes} (signature {sig.name!r} expects {wanted}): {exc.message}"
            ) from exc

    def warm_up(self, records: Iterable[tuple[str, Mapping[str, np.ndarray]]] = ()) -> int:
        """One synthetic call per signature, then any recorded warm-up requests. Returns the number of calls.

        A synthetic call that the model rejects only logs a warning (some graphs need real data, e.g. decoding an
        image); a recorded warm-up request that fails is fatal, as in TF Serving.
        """
        calls = 0
        for sig in self.model.signatures.values():
            try:
                self.model.run(sig.name, synthetic_inputs(sig))
                calls += 1
            except InvalidInput as exc:
                log.warning("synthetic warm-up of signature %s skipped: %s", sig.name, exc.message)
        for signature_name, inputs in records:
            try:
                sig = self.signature(signature_name)
                check_inputs(sig, inputs)
                self.model.run(sig.name, inputs)
            except (InvalidInput, NotFound) as exc:
                raise ModelLoadError(f"a TF Serving warm-up request failed: {exc.message}") from exc
            calls += 1
        return calls


def check_inputs(sig: SignatureInfo, inputs: Mapping[str, np.ndarray], lenient: bool = False) -> bool:
    """Raise InvalidInput unless ``inputs`` has exactly the signature's inputs, each of a compatible shape.

    ``lenient`` lets any shape through, as TF Serving does (it hands the graph what was sent, so ``[1.0, 2.0]`` works
    for an input of shape ``[-1,1]``); the result says whether every shape fits the signature's.
    """
    missing = [name for name in sig.inputs if name not in inputs]
    if missing:
        raise InvalidInput(
            f"missing input {missing[0]!r} for signature {sig.name!r}; expected inputs: {', '.join(sig.inputs)}"
        )
    exact = True
    for name, value in inputs.items():
        info = sig.inputs.get(name)
        if info is None:
            raise InvalidInput(
                f"unknown input {name!r} for signature {sig.name!r}; expected inputs: {', '.join(sig.inputs)}"
            )
        fits = info.accepts_shape(value.shape)
        exact = exact and fits
        if not fits and not lenient:
            raise InvalidInput(
                f"input {name!r} has shape {format_shape(value.shape)} but signature {sig.name!r} expects "
                f"{format_shape(info.shape)}"
            )
        if value.dtype != info.np_dtype:
            raise InvalidInput(f"input {name!r} has dtype {value.dtype} but the signature expects {info.dtype}")
    return exact


def synthetic_inputs(sig: SignatureInfo) -> dict[str, np.ndarray]:
    """A batch of one all-zero (or empty-string) example for every input of ``sig``."""
    arrays = {}
    for name, info in sig.inputs.items():
        shape = (1,) if info.shape is None else tuple(1 if d is None else d for d in info.shape)
        if info.is_string:
            arrays[name] = np.full(shape, b"", dtype=object)
        else:
            arrays[name] = np.zeros(shape, dtype=info.np_dtype)
    return arrays
