"""A tiny real SavedModel with several signatures, and the Flask app/client serving it (no gunicorn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.batching import BatchingSettings
from app.model import Model
from app.predictor import Predictor
from app.settings import Settings


def export_toy_model(path: Path) -> Path:
    """Export the toy SavedModel to ``path`` (a SavedModel directory) and return it."""
    import tensorflow as tf

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def default(self, x):
            return {"y": x * 2.0, "total": tf.reduce_sum(x, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def single(self, x):
            return {"doubled": x * 2.0}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.int64, name="a"),
                tf.TensorSpec([None], tf.float32, name="b"),
            ]
        )
        def multi(self, a, b):
            return {"sum": tf.cast(tf.reduce_sum(a, axis=1), tf.float32) + b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="s")])
        def text(self, s):
            return {"length": tf.strings.length(s), "upper_bytes": tf.strings.upper(s), "echo": s}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def log(self, x):
            return {"log": tf.math.log(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def checked(self, x):
            with tf.control_dependencies([tf.debugging.assert_non_negative(x, message="x must be >= 0")]):
                return {"sqrt": tf.sqrt(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def scalar_out(self, x):
            return {"mean": tf.reduce_mean(x), "x": x}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="n")])
        def spin(self, n):
            # A deliberately slow signature (n loop iterations) for shutdown and concurrency tests.
            steps = tf.while_loop(lambda i: i < n[0], lambda i: (i + 1,), (tf.constant(0),))[0]
            return {"steps": tf.fill(tf.shape(n), steps)}

    toy = Toy()
    signatures = {
        "serving_default": toy.default,
        "single": toy.single,
        "multi": toy.multi,
        "text": toy.text,
        "log": toy.log,
        "checked": toy.checked,
        "scalar_out": toy.scalar_out,
        "spin": toy.spin,
    }
    tf.saved_model.save(toy, str(path), signatures=signatures)
    return path


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF Serving base directory holding version 7 of the toy model."""
    base = tmp_path_factory.mktemp("toy")
    export_toy_model(base / "7")
    return base


@pytest.fixture(scope="session")
def toy_predictor(toy_model_dir: Path) -> Predictor:
    predictor = Predictor(Model.load(toy_model_dir / "7"), "toy", 7, str(toy_model_dir / "7"))
    # As in production: every request below goes through a batcher.
    predictor.enable_batching(BatchingSettings(max_batch_size=32))
    predictor.mark_ready()
    return predictor


@pytest.fixture
def settings(toy_model_dir: Path) -> Settings:
    return Settings.from_env({"MODEL_URI": str(toy_model_dir), "MAX_REQUEST_BYTES": str(64 * 1024)})


@pytest.fixture
def app(settings: Settings, toy_predictor: Predictor):
    toy_predictor.mark_ready()
    return create_app(settings, toy_predictor)


@pytest.fixture
def client(app):
    return app.test_client()
