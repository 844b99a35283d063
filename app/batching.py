"""Adaptive server-side batching without a batching thread: concurrent requests to one signature share model calls.

Leader/follower: a request that finds the signature idle becomes the *leader* and, on its own thread, runs one
model call for every compatible request waiting at that moment (up to ``max_batch_size`` rows). Requests that
arrive while a call runs wait (*followers*); when the leader's own answer is ready it hands the role to the oldest
waiting request, which runs the next batch on its thread. So a lone request pays nothing for batching (it calls
the model itself, with no hand-off to another thread), and under load each model call serves everything that
queued up during the previous one. A dedicated batching thread costs every request two more thread wake-ups; a
prototype measured leader/follower at ~1.4x its throughput on 2 cores, and batching against none is worth 1.29x here
(docs/benchmarks.md).

With ``max_wait`` > 0, a leader whose batch is not full waits that long for more requests first. The queue is
bounded: when full, requests are shed at once with ``Overloaded`` (503 + Retry-After) instead of waiting without
bound.
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


@dataclass(frozen=True)
class BatchingSettings:
    """How concurrent requests are merged (from MAX_BATCH_SIZE, BATCH_TIMEOUT_MS and BATCH_QUEUE_SIZE)."""

    max_batch_size: int = 64
    """Most rows in one merged model call; 0 turns batching off."""
    max_wait_s: float = 0.0
    """How long a batch that is not full waits for more requests (0: never wait)."""
    max_queue: int = 256
    """Requests that may wait for the model per signature; more are shed with 503."""


def _closed_gate() -> threading.Lock:
    gate = threading.Lock()
    gate.acquire()
    return gate


@dataclass(eq=False)
class _Pending:
    inputs: Arrays
    rows: int
    key: tuple
    cancelled: Callable[[], bool]
    # Released when the request is answered or promoted to leader; its thread waits by acquiring it. A bare lock is
    # the cheapest wake-up CPython has: an Event's condition and notify_all cost ~20 % of the GIL under load.
    gate: threading.Lock = field(default_factory=_closed_gate)
    finished: bool = False
    result: Arrays | None = None
    error: BaseException | None = None

    def finish(self, result: Arrays | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True
        self.gate.release()


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
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # only a leader gathering for max_wait listens
        self._busy = False  # a leader is running (or gathering) a batch

    def submit(self, inputs: Mapping[str, np.ndarray], cancelled: Callable[[], bool] | None = None) -> Arrays:
        """Run ``inputs`` (already validated) as part of a batch; block until its own outputs are ready.

        ``cancelled`` is asked just before the batch is computed; a request whose client has gone away is
        dropped then (``ClientGone``) instead of spending model time on an answer nobody will read.
        """
        sizes = {len(a) for a in inputs.values()}
        if len(sizes) != 1 or (rows := sizes.pop()) > self.max_batch_size or rows == 0:
            return self._run(inputs)  # not splittable by rows, or a batch in itself
        key = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(inputs.items()))
        me = _Pending(dict(inputs), rows, key, cancelled or _never)
        with self._lock:
            if len(self._queue) >= self.max_queue:
                self.stats.shed += 1
                raise Overloaded(f"server is overloaded ({len(self._queue)} requests queued); retry shortly")
            self._queue.append(me)
            lead = not self._busy
            self._busy = True
            if not lead:
                self._on_depth(len(self._queue))
                if self.max_wait:
                    self._arrived.notify()
        if not lead:
            me.gate.acquire()
        if not me.finished:  # idle on arrival, or promoted by the previous leader
            self._lead(me)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _lead(self, me: _Pending) -> None:
        """Run batches from the queue (oldest first) until ``me`` is answered, then hand the role on."""
        while True:
            batch = self._take()
            try:
                self._execute(batch)
            except BaseException as exc:  # noqa: BLE001 - deliver to every waiting caller, never strand them
                for pending in batch:
                    if not pending.finished:
                        pending.finish(error=exc)
            if me.finished:
                break
        with self._lock:
            if self._queue:
                self._queue[0].gate.release()  # promoted: it runs the next batch on its own thread
            else:
                self._busy = False
            self._on_depth(len(self._queue))

    def _take(self) -> list[_Pending]:
        """The next batch: the oldest request and the compatible ones after it that fit, in arrival order."""
        with self._lock:
            batch = [self._queue.popleft()]
            rows = batch[0].rows
            deadline = time.monotonic() + self.max_wait
            while True:
                while self._queue and self._queue[0].key == batch[0].key:
                    if rows + self._queue[0].rows > self.max_batch_size:
                        break
                    item = self._queue.popleft()
                    batch.append(item)
                    rows += item.rows
                remaining = deadline - time.monotonic()
                if self._queue or remaining <= 0 or rows >= self.max_batch_size:
                    return batch
                self._arrived.wait(remaining)

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
        start = 0
        for pending in batch:
            end = start + pending.rows
            pending.finish({n: a[start:end] for n, a in outputs.items()})
            start = end

    def _drop_if_cancelled(self, pending: _Pending) -> bool:
        try:
            gone = pending.cancelled()
        except Exception:  # noqa: BLE001 - a failing check must not cost the request its answer
            gone = False
        if gone:
            self.stats.cancelled += 1
            pending.finish(error=ClientGone("the client closed the connection before the model ran"))
        return gone

    def _run_one(self, pending: _Pending) -> None:
        try:
            result = self._run(pending.inputs)
        except BaseException as exc:  # noqa: BLE001 - delivered to the waiting request thread
            pending.finish(error=exc)
            return
        self._record(1, pending.rows)
        pending.finish(result)

    def _record(self, requests: int, rows: int) -> None:
        s = self.stats
        s.calls += 1
        s.requests += requests
        s.rows += rows
        s.largest = max(s.largest, rows)
        if requests > 1:
            log.debug("batch %s: %d rows from %d requests", self.name, rows, requests)
