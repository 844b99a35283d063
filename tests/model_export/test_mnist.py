"""The MNIST demo export: data preparation, the exact serving signature, outputs and warm-up file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from app.warmup import read_warmup_requests
from model_export import mnist
from model_export.common import ExportExistsError


@pytest.fixture(scope="module")
def serving_fn(mnist_base_dir: Path):
    return tf.saved_model.load(str(mnist_base_dir / "1")).signatures["serving_default"]


def test_load_data_scales_digits_into_mnist_frames() -> None:
    x_train, y_train, x_test, y_test = mnist.load_data()

    assert x_train.shape == (1437, 28, 28, 1) and x_test.shape == (360, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    # The 20x20 digit is centred in the frame: a 4-pixel empty border, like MNIST.
    assert not x_train[:, :4].any() and not x_train[:, -4:].any()
    assert set(np.unique(y_test)) == set(range(10))


def test_load_data_split_is_deterministic() -> None:
    first, second = mnist.load_data(samples=200), mnist.load_data(samples=200)

    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_layout_is_a_tf_serving_version_directory(mnist_base_dir: Path) -> None:
    assert sorted(p.name for p in mnist_base_dir.iterdir()) == ["1"]
    assert (mnist_base_dir / "1" / "saved_model.pb").is_file()


def test_signature_names_dtypes_and_shapes(serving_fn) -> None:
    args, kwargs = serving_fn.structured_input_signature

    assert args == ()
    assert kwargs == {"image": tf.TensorSpec([None, 28, 28, 1], tf.float32, name="image")}
    outputs = serving_fn.structured_outputs
    assert set(outputs) == {"probabilities", "digit"}
    assert outputs["probabilities"].dtype == tf.float32
    assert outputs["probabilities"].shape.as_list() == [None, 10]
    assert outputs["digit"].dtype == tf.int64
    assert outputs["digit"].shape.as_list() == [None]


def test_probabilities_sum_to_one_and_digit_is_argmax(serving_fn) -> None:
    _, _, x_test, _ = mnist.load_data(samples=100)

    outputs = serving_fn(image=tf.constant(x_test))

    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(x_test), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(outputs["digit"].numpy(), probabilities.argmax(axis=1))


def test_warmup_file_holds_held_out_images_the_signature_accepts(mnist_base_dir: Path, serving_fn) -> None:
    requests = read_warmup_requests(mnist_base_dir / "1")

    assert len(requests) == mnist.WARMUP_IMAGES
    for request in requests:
        assert request.signature_name == "serving_default"
        assert list(request.inputs) == ["image"]
        image = request.inputs["image"]
        assert image.shape == (1, 28, 28, 1) and image.dtype == np.float32 and image.max() > 0.5
        assert serving_fn(image=tf.constant(image))["digit"].shape == (1,)


def test_export_refuses_an_existing_version_before_training(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()

    with pytest.raises(ExportExistsError, match="already exists"):
        mnist.export(tmp_path, version=3, epochs=1000)  # would take minutes if it trained first
