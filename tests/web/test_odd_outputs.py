"""Rank-0, empty and string outputs through every protocol: a 200 or a clear 400, never a 500 (issue 13, item 7).

TensorFlow hands a rank-0 string tensor back as plain ``bytes`` rather than an array; before ``app.model`` wrapped it,
both the TF Serving and the V2 encoders crashed on it. A model exported here has one signature per combination.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.batching import BatchingSettings
from app.model import Model
from app.predictor import Predictor
from app.settings import Settings


def _export(path: Path) -> Path:
    import tensorflow as tf

    vec = [tf.TensorSpec([None], tf.float32, name="x")]

    class Odd(tf.Module):
        @tf.function(input_signature=vec)
        def str0(self, x):
            return {"s": tf.constant("hello")}

        @tf.function(input_signature=vec)
        def bytes0(self, x):
            return {"s": tf.constant(b"\xff\x00")}

        @tf.function(input_signature=vec)
        def str0_bytes_name(self, x):
            return {"s_bytes": tf.constant("hi")}

        @tf.function(input_signature=vec)
        def str0_and_vector(self, x):
            return {"s": tf.constant("hello"), "y": x}

        @tf.function(input_signature=vec)
        def empty_strings(self, x):
            return {"s": tf.zeros([0], tf.string)}

        @tf.function(input_signature=vec)
        def empty_floats(self, x):
            return {"y": tf.zeros([0, 3])}

        @tf.function(input_signature=vec)
        def float0(self, x):
            return {"m": tf.reduce_mean(x)}

        @tf.function(input_signature=vec)
        def bool0(self, x):
            return {"b": tf.reduce_all(x > 0)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="s")])
        def string_in0(self, s):
            return {"n": tf.strings.length(s), "echo": s}

    odd = Odd()
    names = [n for n in dir(Odd) if not n.startswith("_") and hasattr(getattr(odd, n), "get_concrete_function")]
    tf.saved_model.save(odd, str(path), signatures={n: getattr(odd, n) for n in names})
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = _export(tmp_path_factory.mktemp("odd") / "1")
    predictor = Predictor(Model.load(path), "odd", 1)
    predictor.enable_batching(BatchingSettings(max_batch_size=8))
    predictor.mark_ready()
    return create_app(Settings.from_env({"MODEL_URI": str(path.parent)}), predictor).test_client()


NO_BATCH = "do not share a batch dimension"

# signature -> (TF Serving row answer, TF Serving columnar answer, V2 output entries); a str is a 400's message part.
CASES = {
    "str0": (NO_BATCH, {"outputs": "hello"}, [{"name": "s", "datatype": "BYTES", "shape": [], "data": ["hello"]}]),
    "bytes0": (
        NO_BATCH,
        {"outputs": {"b64": "/wA="}},
        [{"name": "s", "datatype": "BYTES", "shape": [], "data": [{"b64": "/wA="}]}],
    ),
    "str0_bytes_name": (
        NO_BATCH,
        {"outputs": {"b64": "aGk="}},
        [{"name": "s_bytes", "datatype": "BYTES", "shape": [], "data": [{"b64": "aGk="}]}],
    ),
    "str0_and_vector": (
        NO_BATCH,
        {"outputs": {"s": "hello", "y": [1.0, 2.0]}},
        [
            {"name": "s", "datatype": "BYTES", "shape": [], "data": ["hello"]},
            {"name": "y", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]},
        ],
    ),
    "empty_strings": (
        {"predictions": []},
        {"outputs": []},
        [{"name": "s", "datatype": "BYTES", "shape": [0], "data": []}],
    ),
    "empty_floats": (
        {"predictions": []},
        {"outputs": []},
        [{"name": "y", "datatype": "FP32", "shape": [0, 3], "data": []}],
    ),
    "float0": (NO_BATCH, {"outputs": 1.5}, [{"name": "m", "datatype": "FP32", "shape": [], "data": [1.5]}]),
    "bool0": (NO_BATCH, {"outputs": True}, [{"name": "b", "datatype": "BOOL", "shape": [], "data": [True]}]),
}


@pytest.mark.parametrize("signature", sorted(CASES))
def test_tf_serving_row_format(client, signature):
    expected = CASES[signature][0]
    response = client.post("/predict", json={"signature_name": signature, "instances": [1.0, 2.0]})
    if isinstance(expected, str):
        assert response.status_code == 400 and expected in response.json["error"]
    else:
        assert response.status_code == 200 and response.json == expected


@pytest.mark.parametrize("signature", sorted(CASES))
def test_tf_serving_columnar_format(client, signature):
    response = client.post("/predict", json={"signature_name": signature, "inputs": [1.0, 2.0]})
    assert response.status_code == 200 and response.json == CASES[signature][1]


@pytest.mark.parametrize("signature", sorted(CASES))
def test_v2(client, signature):
    body = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}],
        "parameters": {"signature_name": signature},
    }
    response = client.post("/v2/models/odd/infer", json=body)
    assert response.status_code == 200, response.json
    assert response.json["outputs"] == CASES[signature][2]


def test_rank0_string_input_and_outputs(client):
    """A scalar string input, sent columnar (a scalar) and as one row (shape [1], which TF Serving also feeds)."""
    cols = client.post("/predict", json={"signature_name": "string_in0", "inputs": "abc"})
    assert cols.status_code == 200 and cols.json == {"outputs": {"echo": "abc", "n": 3}}
    rows = client.post("/predict", json={"signature_name": "string_in0", "instances": ["abc"]})
    assert rows.status_code == 200 and rows.json == {"predictions": [{"echo": "abc", "n": 3}]}
    v2 = client.post(
        "/v2/models/odd/infer",
        json={
            "inputs": [{"name": "s", "datatype": "BYTES", "shape": [], "data": ["abc"]}],
            "parameters": {"signature_name": "string_in0"},
        },
    )
    assert v2.status_code == 200
    assert {o["name"]: (o["shape"], o["data"]) for o in v2.json["outputs"]} == {"echo": ([], ["abc"]), "n": ([], [3])}
