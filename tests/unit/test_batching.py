"""Adaptive batching: merging, exact splitting, compatibility, error isolation, queue bounds."""

import threading
import time

import numpy as np
import pytest

from app.batching import Batcher, is_batchable
from app.errors import InvalidInput, Overloaded
from tests.unit.signatures import ALL


class SlowDouble:
    """Doubles ``x``; each call takes ``delay`` seconds and is recorded with its row count."""

    def __init__(self, delay=0.05, reject_negative=False):
        self.delay, self.reject_negative, self.calls = delay, reject_negative, []
        self.lock = threading.Lock()

    def __call__(self, inputs):
        with self.lock:
            self.calls.append(len(inputs["x"]))
        if self.reject_negative and (inputs["x"] < 0).any():
            raise InvalidInput("the model rejected the input: negative")
        time.sleep(self.delay)
        return {"y": inputs["x"] * 2, "id": inputs["x"][:, :1].copy()}


def submit_all(batcher, arrays):
    results, errors = [None] * len(arrays), [None] * len(arrays)

    def go(i):
        try:
            results[i] = batcher.submit({"x": arrays[i]})
        except Exception as exc:  # noqa: BLE001
            errors[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
        time.sleep(0.002)
    for t in threads:
        t.join(10)
    return results, errors


def test_concurrent_requests_of_mixed_sizes_merge_and_split_exactly():
    model = SlowDouble()
    batcher = Batcher("double", model, max_batch_size=64)
    arrays = [np.full((n, 3), i, np.float32) for i, n in enumerate([1, 3, 2, 5, 1, 4, 2, 1])]
    results, errors = submit_all(batcher, arrays)
    assert errors == [None] * 8
    for arr, res in zip(arrays, results, strict=True):
        np.testing.assert_array_equal(res["y"], arr * 2)
        np.testing.assert_array_equal(res["id"], arr[:, :1])
    assert len(model.calls) < 8, "some requests were merged"
    assert sum(model.calls) == sum(len(a) for a in arrays)
    assert batcher.stats.largest > 1 and batcher.stats.requests == 8


def test_batches_respect_the_size_limit_and_big_requests_run_alone():
    model = SlowDouble()
    batcher = Batcher("double", model, max_batch_size=4)
    results, _ = submit_all(batcher, [np.ones((3, 3), np.float32)] * 4 + [np.ones((9, 3), np.float32)])
    assert max(model.calls) == 9 and all(c <= 4 for c in model.calls if c != 9)
    assert all(r is not None for r in results)


def test_incompatible_shapes_are_not_merged():
    model = SlowDouble()
    batcher = Batcher("double", model, max_batch_size=64)
    arrays = [np.ones((1, 3), np.float32), np.ones((1, 3), np.float32), np.ones((1, 5), np.float32)]
    results, errors = submit_all(batcher, arrays * 3)
    assert errors == [None] * 9
    assert [r["y"].shape for r in results] == [a.shape for a in arrays * 3]


def test_a_rejected_request_does_not_fail_the_others_in_its_batch():
    model = SlowDouble(reject_negative=True)
    batcher = Batcher("double", model, max_batch_size=64)
    arrays = [np.ones((1, 3), np.float32) * (-1 if i == 4 else 1) for i in range(8)]
    results, errors = submit_all(batcher, arrays)
    assert isinstance(errors[4], InvalidInput)
    assert [e for i, e in enumerate(errors) if i != 4] == [None] * 7
    assert all(np.array_equal(r["y"], a * 2) for i, (r, a) in enumerate(zip(results, arrays, strict=True)) if i != 4)


def test_full_queue_sheds_at_once():
    model = SlowDouble(delay=0.3)
    batcher = Batcher("double", model, max_batch_size=1, max_queue=2)
    _, errors = submit_all(batcher, [np.ones((1, 3), np.float32)] * 6)
    shed = [e for e in errors if isinstance(e, Overloaded)]
    assert shed and batcher.stats.shed == len(shed)
    assert shed[0].status == 503 and shed[0].headers == {"Retry-After": "1"}


def test_max_wait_gathers_requests_that_arrive_soon_after():
    model = SlowDouble(delay=0.0)
    batcher = Batcher("double", model, max_batch_size=64, max_wait=0.2)
    results, errors = submit_all(batcher, [np.ones((1, 3), np.float32)] * 4)
    assert errors == [None] * 4 and model.calls == [4]


def test_unexpected_errors_reach_every_caller_and_the_batcher_survives():
    calls = []

    def flaky(inputs):
        calls.append(len(inputs["x"]))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return {"y": inputs["x"]}

    batcher = Batcher("flaky", flaky, max_batch_size=8)
    with pytest.raises(RuntimeError):
        batcher.submit({"x": np.ones((1, 1))})
    assert batcher.submit({"x": np.ones((2, 1))})["y"].shape == (2, 1)


def test_which_signatures_are_batchable():
    assert is_batchable(ALL["serving_default"]) and is_batchable(ALL["features"])


def test_requests_whose_client_left_are_not_computed():
    model = SlowDouble(delay=0.2)
    batcher = Batcher("double", model, max_batch_size=64)
    gone = threading.Event()
    results = {}

    def first():
        results["first"] = batcher.submit({"x": np.ones((1, 3), np.float32)})

    def second():
        try:
            batcher.submit({"x": np.full((2, 3), 5, np.float32)}, cancelled=gone.is_set)
        except Exception as exc:  # noqa: BLE001
            results["second"] = exc

    t1 = threading.Thread(target=first)
    t1.start()
    time.sleep(0.05)  # the first call is computing; the second waits in the queue
    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.02)
    gone.set()  # its client disconnects while it waits
    t1.join(5)
    t2.join(5)
    assert results["second"].status == 499
    assert model.calls == [1], "the abandoned request never reached the model"
    assert batcher.stats.cancelled == 1
