"""Signature keys that are not Python identifiers (issue 13, item 8): TF Serving addresses inputs and outputs by the
keys of the SignatureDef as exported, e.g. ``input-0``. TF2 turns such a key into the keyword ``input_0``; before
``app.model`` went back to the SignatureDef's keys, a request naming ``input-0`` was refused as an unknown input.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.model import Model
from app.predictor import Predictor
from app.settings import Settings


def _tf1(path: Path) -> Path:
    """A TF1 SignatureDef whose keys hold '-', ' ', '/' and ':'."""
    import tensorflow.compat.v1 as tf

    with tf.Session(graph=tf.Graph()) as sess:
        a = tf.placeholder(tf.float32, [None, 2], name="a")
        b = tf.placeholder(tf.float32, [None], name="b")
        total = tf.identity(tf.reduce_sum(a, 1) + b)
        info = tf.saved_model.utils.build_tensor_info
        sig = tf.saved_model.signature_def_utils.build_signature_def(
            {"input-0": info(a), "my input/1": info(b)},
            {"output-0": info(total), "out put:2": info(a * 2)},
            "tensorflow/serving/predict",
        )
        builder = tf.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
        builder.save()
    return path


def _tf2(path: Path) -> Path:
    """A TF2 signature whose input keys (the TensorSpec names) are not identifiers."""
    import tensorflow as tf

    class Keys(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="input-0"),
                tf.TensorSpec([None], tf.float32, name="my.input/1"),
            ]
        )
        def f(self, a, b):
            return {"output-0": tf.reduce_sum(a, 1) + b, "out put:2": a * 2}

    keys = Keys()
    tf.saved_model.save(keys, str(path), signatures={"serving_default": keys.f})
    return path


@pytest.fixture(scope="module", params=["tf1", "tf2"])
def case(request, tmp_path_factory):
    path = (_tf1 if request.param == "tf1" else _tf2)(tmp_path_factory.mktemp(request.param) / "1")
    predictor = Predictor(Model.load(path), "keys", 1)
    predictor.mark_ready()
    second = "my input/1" if request.param == "tf1" else "my.input/1"
    return create_app(Settings.from_env({"MODEL_URI": str(path.parent)}), predictor).test_client(), second


def test_inputs_are_the_signature_def_keys(case):
    client, second = case
    meta = client.get("/v1/models/keys/metadata").get_json()
    assert set(meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]) == {"input-0", second}


def test_tf_serving_rows_and_columns(case):
    client, second = case
    rows = client.post("/v1/models/keys:predict", json={"instances": [{"input-0": [1.0, 2.0], second: 3.0}]})
    assert rows.status_code == 200, rows.get_json()
    assert rows.get_json() == {"predictions": [{"output-0": 6.0, "out put:2": [2.0, 4.0]}]}
    cols = client.post("/v1/models/keys:predict", json={"inputs": {"input-0": [[1.0, 2.0]], second: [3.0]}})
    assert cols.get_json() == {"outputs": {"output-0": [6.0], "out put:2": [[2.0, 4.0]]}}


def test_v2(case):
    client, second = case
    body = {
        "inputs": [
            {"name": "input-0", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]},
            {"name": second, "datatype": "FP32", "shape": [1], "data": [3.0]},
        ],
        "outputs": [{"name": "output-0"}],
    }
    response = client.post("/v2/models/keys/infer", json=body)
    assert response.status_code == 200, response.get_json()
    assert [(o["name"], o["data"]) for o in response.get_json()["outputs"]] == [("output-0", [6.0])]
