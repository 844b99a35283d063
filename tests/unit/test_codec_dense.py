"""The server's dense shortcut (``decode_dense``): after one body of a structure went through the codec, bodies of
that structure decode from their bytes to exactly what the codec makes of them, or the shortcut abstains.

Pure (no TensorFlow). The random near-misses reuse the batch shortcut's mutations (tests/batch/test_dense.py).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from app.codecs import dense
from app.codecs.jsonio import loads
from app.codecs.limits import Limits
from app.codecs.tfserving import decode_dense, decode_predict
from app.errors import InvalidInput
from tests.batch.test_dense import mutate, signature

LIMITS = Limits(max_instances=64, max_elements=64 * 1000)


@pytest.fixture(autouse=True)
def no_remembered_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense, "_SHAPES", {})


def general(raw: bytes, sig, limits: Limits = LIMITS):
    """The codec's answer for ``raw``: the decoded inputs, or None when it refuses the body."""
    try:
        return decode_predict(loads(raw, limits), lambda _name: sig, limits, raw).inputs
    except InvalidInput:
        return None


def test_a_structure_seen_once_is_decoded_from_bytes_after() -> None:
    sig = signature("float32", (None, 2, 1))
    first, second = b'{"instances": [[[0.5], [1]]]}', b'{"instances":[[[-2.5e-3],[3E+2]]]}'
    assert decode_dense(first, lambda _name: sig, LIMITS) is None, "nothing is known before the codec saw one"
    general(first, sig)
    fast = decode_dense(second, lambda _name: sig, LIMITS)
    assert fast is not None and fast.row_format and fast.signature_name is None
    np.testing.assert_array_equal(fast.inputs["x"], general(second, sig)["x"])
    assert fast.inputs["x"].dtype == np.float32 and fast.inputs["x"].shape == (1, 2, 1)


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[[1], [2]]], "signature_name": "s"}',  # another key: the codec decides
        b'{"instances": [[[1], [NaN]]]}',
        b'{"instances": [[[1], [true]]]}',
        b'{"instances": [[[1], ["2"]]]}',
        b'{"instances": [[[1], []]]}',
        b'{"instances": [[[1], [2, 3]]]}',
        b'{"instances": [[[1] [2]]]}',
        b'{"instances": [[[1], [2]]], "instances": [[[3], [4]]]}',
        b'{"\\u0069nstances": [[[1], [2]]]}',
    ],
)
def test_abstains_on_bodies_that_are_almost_the_known_one(body: bytes) -> None:
    sig = signature("float32", (None, 2, 1))
    general(b'{"instances": [[[0], [0]]]}', sig)
    assert decode_dense(body, lambda _name: sig, LIMITS) is None


def test_abstains_beyond_the_limits_and_for_other_signatures() -> None:
    sig = signature("float32", (None, 1))
    small = Limits(max_instances=2)
    general(b'{"instances": [[1], [2]]}', sig, small)
    general(b'{"instances": [[1], [2], [3]]}', sig)  # remembered under the roomy limits
    assert decode_dense(b'{"instances": [[1], [2], [3]]}', lambda _name: sig, small) is None
    two_inputs = signature("float32", (None, 1))
    two_inputs.inputs["z"] = two_inputs.inputs["x"]
    assert decode_dense(b'{"instances": [[1], [2]]}', lambda _name: two_inputs, LIMITS) is None
    assert decode_dense(b'{"instances": [[1], [2]]}', lambda _name: signature("string", (None, 1)), LIMITS) is None


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    sig = signature("float32", (None,))
    for n in range(1, 40):
        general(json.dumps({"instances": list(range(n))}).encode(), sig)
    assert len(dense._SHAPES) == dense._SHAPES_KEPT
    monkeypatch.setattr(dense, "_SHAPES", {})
    huge = json.dumps({"instances": [0] * 40_000}).encode()  # its structure is over 64 KiB
    general(huge, sig, Limits())
    assert dense._SHAPES == {}


@pytest.mark.parametrize(("dtype", "values"), [("float32", [0, 1, -7, 2.5, 1e-3]), ("int32", [0, 1, -7, 12, 300])])
def test_random_near_misses_never_decode_differently(dtype: str, values: list[float]) -> None:
    rng = random.Random(7)
    sig = signature(dtype, (None, 2, 3))
    decided = 0
    for _ in range(3000):
        rows = [[[rng.choice(values) for _ in range(3)] for _ in range(2)] for _ in range(rng.randint(1, 3))]
        good = json.dumps({"instances": rows})
        general(good.encode(), sig)  # the structure is known from here on
        body = mutate(rng, good).encode()
        fast = decode_dense(body, lambda _name: sig, LIMITS)
        if fast is not None:
            expected = general(body, sig)
            assert expected is not None, f"the shortcut accepted a body the codec refuses: {body!r}"
            assert fast.inputs["x"].dtype == expected["x"].dtype
            np.testing.assert_array_equal(fast.inputs["x"], expected["x"])
            decided += 1
    assert decided > 300, f"only {decided} mutated bodies were decoded: the test would prove little"
