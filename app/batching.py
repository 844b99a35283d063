"""Adaptive server-side batching: concurrent requests to one signature are merged into one model call.

While the model computes one batch, new requests queue up; the next call takes every compatible queued request
(up to ``max_batch_size`` rows). With ``max_wait`` 0 (the default) nothing waits when the queue is empty, so a
lone request pays no latency for batching. The queue is bounded: when full, requests are shed at once with
``Overloaded`` (503 + Retry-After) instead of waiting without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from app.errors import ClientGone, InvalidInput, Overloaded
from app.tensors import SignatureInfo

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def _never() -> bool:
    return False


def is_batchable(sig: SignatureInfo) -> bool:
    """Every input and output has a leading batch dimension of unknown size."""
    tensors = (*sig.inputs.values(), *sig.outputs.values())
    return all(t.shape is not None and len(t.shape) >= 1 and t.shape[0] is None for t in tensors)


@dataclass
class _Pending:
    inputs: Arrays
    rows: int
    key: tuple
    cancelled: Callable[[], bool]
    done: threading.Event = field(default_factory=threading.Event)
    result: Arrays | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    """Counters for observability: how many calls, how many rows, the largest batch."""

    calls: int = 0
    requests: int = 0
    rows: int = 0
    largest: int = 0
    shed: int = 0
    cancelled: int = 0


class Batcher:
    """Merges concurrent calls of one signature. ``run`` is the unbatched model call."""

    def __init__(
        self,
        name: str,
        run: Callable[[Mapping[str, np.ndarray]], Arrays],
        max_batch_size: int,
        max_wait: float = 0.0,
        max_queue: int = 256,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self._on_depth = on_depth or (lambda depth: None)
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, inputs: Mapping[str, np.ndarray], cancelled: Callable[[], bool] | None = None) -> Arrays:
        """Run ``inputs`` (already validated) as part of a batch; block until its own outputs are ready.

        ``cancelled`` is asked just before the batch is computed; a request whose client has gone away is
        dropped then (``ClientGone``) instead of spending model time on an answer nobody will read.
        """
        sizes = {len(a) for a in inputs.values()}
        if len(sizes) != 1 or (rows := sizes.pop()) > self.max_batch_size or rows == 0:
            return self._run(inputs)  # not splittable by rows, or a batch in itself
        key = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(inputs.items()))
        pending = _Pending(dict(inputs), rows, key, cancelled or _never)
        with self._cond:
            if len(self._queue) >= self.max_queue:
                self.stats.shed += 1
                raise Overloaded(f"server is overloaded ({len(self._queue)} requests queued); retry shortly")
            self._queue.append(pending)
            self._on_depth(len(self._queue))
            self._cond.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._execute(batch)
            except BaseException as exc:  # noqa: BLE001 - never let the batching thread die; hand the error back
                for pending in batch:
                    if not pending.done.is_set():
                        pending.error = exc
                        pending.done.set()

    def _next_batch(self) -> list[_Pending]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            batch = [self._queue.popleft()]
            rows = batch[0].rows
            if rows >= self.max_batch_size:
                self._on_depth(len(self._queue))
                return batch
            deadline = time.monotonic() + self.max_wait
            while True:
                # Take compatible requests in arrival order; stop at the first that does not fit (FIFO).
                while self._queue and self._queue[0].key == batch[0].key:
                    if rows + self._queue[0].rows > self.max_batch_size:
                        break
                    item = self._queue.popleft()
                    batch.append(item)
                    rows += item.rows
                remaining = deadline - time.monotonic()
                if self._queue or remaining <= 0 or rows >= self.max_batch_size:
                    self._on_depth(len(self._queue))
                    return batch
                self._cond.wait(remaining)

    def _execute(self, batch: list[_Pending]) -> None:
        batch = [p for p in batch if not self._drop_if_cancelled(p)]
        if not batch:
            return
        if len(batch) == 1:
            self._run_one(batch[0])
            return
        names = list(batch[0].inputs)
        merged = {n: np.concatenate([p.inputs[n] for p in batch]) for n in names}
        total = sum(p.rows for p in batch)
        try:
            outputs = self._run(merged)
        except InvalidInput:
            # One request's values may be what the graph rejected: retry alone so only it gets the error.
            for pending in batch:
                self._run_one(pending)
            return
        if any(len(a) != total for a in outputs.values()):
            for pending in batch:  # outputs are not row-aligned after all: no safe way to split
                self._run_one(pending)
            return
        self._record(len(batch), total)
        offsets = np.cumsum([p.rows for p in batch])[:-1]
        pieces = {n: np.split(a, offsets) for n, a in outputs.items()}
        for i, pending in enumerate(batch):
            pending.result = {n: parts[i] for n, parts in pieces.items()}
            pending.done.set()

    def _drop_if_cancelled(self, pending: _Pending) -> bool:
        try:
            gone = pending.cancelled()
        except Exception:  # noqa: BLE001 - a failing check must not cost the request its answer
            gone = False
        if gone:
            self.stats.cancelled += 1
            pending.error = ClientGone("the client closed the connection before the model ran")
            pending.done.set()
        return gone

    def _run_one(self, pending: _Pending) -> None:
        try:
            pending.result = self._run(pending.inputs)
            self._record(1, pending.rows)
        except BaseException as exc:  # noqa: BLE001 - delivered to the waiting request thread
            pending.error = exc
        pending.done.set()

    def _record(self, requests: int, rows: int) -> None:
        s = self.stats
        s.calls += 1
        s.requests += requests
        s.rows += rows
        s.largest = max(s.largest, rows)
        if requests > 1:
            log.debug("batch %s: %d rows from %d requests", self.name, rows, requests)
