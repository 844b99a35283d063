"""The dense shortcut: whenever it decodes a batch, the codec decodes it to the very same array; else it abstains.

Pure (no TensorFlow). Hand-picked lines that look almost right, then seeded-random mutations of good lines
(plain loops: deterministic and quick), each judged against the codec itself.
"""

from __future__ import annotations

import json
import random

import numpy as np
import orjson
import pytest

from app.codecs.dense import DenseLines
from app.codecs.limits import Limits
from app.codecs.tfserving import decode_predict
from app.errors import InvalidInput
from app.predictor import check_inputs
from app.tensors import SignatureInfo, TensorInfo

LIMITS = Limits(max_instances=64, max_elements=64 * 1000)


def signature(dtype: str = "float32", shape: tuple[int | None, ...] | None = (None, 2, 1)) -> SignatureInfo:
    return SignatureInfo("s", {"x": TensorInfo("x", dtype, shape)}, {"y": TensorInfo("y", "float32", (None,))})


def codec(sig: SignatureInfo, lines: list[bytes], limits: Limits = LIMITS) -> dict[str, np.ndarray] | None:
    """What the general path makes of the lines: the decoded inputs, or None when any line is refused."""
    try:
        rows = [orjson.loads(line) for line in lines]
    except orjson.JSONDecodeError:
        return None
    try:
        inputs = decode_predict({"instances": rows}, lambda _name: sig, limits).inputs
        check_inputs(sig, inputs)
    except InvalidInput:
        return None
    return inputs


def assert_same(dense: dict[str, np.ndarray], general: dict[str, np.ndarray] | None) -> None:
    assert general is not None, "the shortcut accepted lines the codec refuses"
    assert dense.keys() == general.keys()
    for name, array in dense.items():
        assert array.dtype == general[name].dtype and array.shape == general[name].shape
        np.testing.assert_array_equal(array, general[name])


@pytest.mark.parametrize(
    ("dtype", "shape", "lines"),
    [
        ("float32", (None, 2, 1), [b"[[0.5],[1]]", b"[[-2.5e-3],[3E+2]]"]),
        ("float32", (None, 2, 1), [b" [ [ 0.25 ] ,\t[ 7 ] ] ", b"[[1], [2]]"]),  # json.dumps-style spaces
        ("float32", (None, None, 1), [b"[[1],[2],[3]]", b"[[4],[5],[6]]"]),  # a dimension the signature leaves open
        ("float32", None, [b"[[1, 2]]", b"[[3, 4]]"]),  # unknown rank
        ("float32", (None,), [b"4", b"-1", b" 9.5 "]),  # one number per line
        ("float64", (None, 3), [b"[0.1, 0.2, 0.30000000000000004]"]),
        ("int64", (None, 2), [b"[1, -9007199254740993]", b"[3, 4]"]),  # beyond 2**53: kept exact, as the codec does
        ("int32", (None, 2), [b"[1.0, 2]", b"[3, 4e0]"]),  # integral floats are integers
        ("float32", (None, 2), [b"[1e39, 1]", b"[3, 4]"]),  # beyond float32: Infinity, by the codec's policy
    ],
)
def test_decodes_as_the_codec_does(dtype: str, shape: tuple[int | None, ...] | None, lines: list[bytes]) -> None:
    sig = signature(dtype, shape)
    dense = DenseLines.for_signature(sig, LIMITS)
    assert dense is not None
    decoded = dense.decode(lines)
    assert decoded is not None
    assert_same(decoded, codec(sig, lines))


@pytest.mark.parametrize(
    "line",
    [
        b"[1[2],[3]]",  # numbers next to brackets instead of in the innermost lists...
        b"[1[],[2]]",
        b"[[1]2,[3]]",
        b"[[1],[2]]5",
        b"[[],[1]]",  # ...an empty slot, two numbers in one...
        b"[[1 2],[3]]",
        b"[[1],[2],[3]]",  # ...another shape...
        b"[[[1]],[[2]]]",
        b"[1,2]",
        b"[[NaN],[1]]",  # ...other JSON values...
        b"[[true],[1]]",
        b'[["1"],[1]]',
        b"[[null],[1]]",
        b"[[01],[1]]",  # ...numbers JSON does not allow, or that orjson leaves to the standard library...
        b"[[1.],[1]]",
        b"[[.5],[1]]",
        b"[[+1],[1]]",
        b"[[1e400],[1]]",
        b"[[-],[1]]",
        b"\xef\xbb\xbf[[1],[2]]",  # ...a byte order mark, a character Python calls whitespace and JSON does not
        b"[[1],\x0c[2]]",
    ],
)
def test_abstains_on_lines_that_are_almost_right(line: bytes) -> None:
    sig = signature()
    dense = DenseLines.for_signature(sig, LIMITS)
    assert dense is not None
    for lines in ([line], [b"[[0],[0]]", line]):  # the first line sets the expected shape: both ways round
        decoded = dense.decode(lines)
        if decoded is not None:  # e.g. [1,2] alone is a consistent batch of another shape: check_inputs refuses it
            assert codec(sig, lines) is None and check_raises(sig, decoded)


def check_raises(sig: SignatureInfo, inputs: dict[str, np.ndarray]) -> bool:
    try:
        check_inputs(sig, inputs)
    except InvalidInput:
        return True
    return False


def test_abstains_beyond_the_limits() -> None:
    sig = signature()
    lines = [b"[[1],[2]]"] * 3
    assert DenseLines.for_signature(sig, Limits(max_instances=2)).decode(lines) is None
    assert DenseLines.for_signature(sig, Limits(max_elements=5)).decode(lines) is None
    assert DenseLines.for_signature(sig, Limits(max_nesting_depth=3)).decode(lines) is None
    assert DenseLines.for_signature(sig, Limits()).decode(lines) is not None


@pytest.mark.parametrize(
    "sig",
    [
        SignatureInfo("s", {"a": TensorInfo("a", "float32", (None,)), "b": TensorInfo("b", "float32", (None,))}, {}),
        signature("string", (None,)),
        signature("bool", (None,)),
    ],
)
def test_only_for_one_numeric_input(sig: SignatureInfo) -> None:
    assert DenseLines.for_signature(sig, LIMITS) is None


MUTATION_ALPHABET = "[],0123456789.eE+- \t"


def mutate(rng: random.Random, line: str) -> str:
    """One to three random insertions, deletions or replacements drawn from the characters the shortcut reads."""
    chars = list(line)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        what = rng.random()
        if what < 0.4:
            chars.insert(at, rng.choice(MUTATION_ALPHABET))
        elif chars and what < 0.7:
            del chars[min(at, len(chars) - 1)]
        elif chars:
            chars[min(at, len(chars) - 1)] = rng.choice(MUTATION_ALPHABET)
    return "".join(chars)


@pytest.mark.parametrize(("dtype", "values"), [("float32", [0, 1, -7, 2.5, 1e-3]), ("int32", [0, 1, -7, 12, 300])])
def test_random_near_misses_never_decode_differently(dtype: str, values: list[float]) -> None:
    rng = random.Random(11)
    sig = signature(dtype, (None, 2, 3))
    dense = DenseLines.for_signature(sig, LIMITS)
    assert dense is not None
    decided = 0
    for _ in range(3000):
        good = [json.dumps([[rng.choice(values) for _ in range(3)] for _ in range(2)]) for _ in range(3)]
        lines = [line.encode() for line in good]
        lines[rng.randrange(3)] = mutate(rng, good[0]).encode()
        decoded = dense.decode(lines)
        if decoded is not None and not check_raises(sig, decoded):
            assert_same(decoded, codec(sig, lines))
            decided += 1
    assert decided > 300, f"only {decided} mutated batches were valid: the test would prove little"
