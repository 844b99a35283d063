"""MNIST-style digit classifier trained on scikit-learn's bundled 8x8 digits (no download).

Each 8x8 image (values 0-16) is scaled to [0, 1], resized bilinearly to 20x20 and padded to 28x28, the way
MNIST centres a 20x20 digit in a 28x28 frame. Serving signature ``serving_default``:
``image`` float32 [None, 28, 28, 1] -> ``probabilities`` float32 [None, 10], ``digit`` int64 [None].
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from app.drift_baseline import build_baseline
from app.warmup import WarmupRequest
from model_export.common import SEED, SIGNATURE, TrainedModel, deterministic, train_and_save

logger = logging.getLogger(__name__)

NAME = "mnist"
DEFAULT_EPOCHS = 12
WARMUP_IMAGES = 4


def load_data(samples: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)``: 28x28x1 float32 images in [0, 1], int64 labels.

    The split is 80/20, stratified, ``random_state=0``; ``samples`` keeps only that many images (for tests).
    """
    digits = load_digits()
    images, labels = digits.images, digits.target.astype(np.int64)
    if samples is not None:
        images, labels = images[:samples], labels[:samples]
    x = tf.image.resize(images[..., np.newaxis] / 16.0, (20, 20), method="bilinear")
    x = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]])
    x = np.clip(x.numpy(), 0.0, 1.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, labels, test_size=0.2, stratify=labels, random_state=0)
    return x_train, y_train, x_test, y_test


def build_model() -> keras.Model:
    """The seed project's CNN: two conv/pool blocks, a 64-unit dense layer, softmax over 10 digits."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name=NAME,
    )


class DigitServing(tf.Module):
    """Wraps the Keras model with an explicit, named serving signature."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name=NAME)
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32, name="image")])
    def serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        """Class probabilities and the most likely digit."""
        probabilities = self.model(image, training=False)
        return {
            "probabilities": probabilities,
            "digit": tf.argmax(probabilities, axis=1, output_type=tf.int64),
        }


def train(epochs: int = DEFAULT_EPOCHS, samples: int | None = None, verbose: int = 0) -> TrainedModel:
    """Train deterministically; return the model with held-out accuracy, warm-up requests and the drift baseline
    (``image:mean``, the mean pixel intensity of the training images)."""
    with deterministic():
        x_train, y_train, x_test, y_test = load_data(samples)
        model = build_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_data=(x_test, y_test), verbose=verbose)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    warmup = [WarmupRequest(SIGNATURE, {"image": x_test[i : i + 1]}) for i in range(min(WARMUP_IMAGES, len(x_test)))]
    logger.info("MNIST held-out accuracy %.4f on %d images", accuracy, len(x_test))
    baseline = build_baseline({"image": x_train}, SIGNATURE, seed=SEED)
    return TrainedModel(NAME, DigitServing(model), {"accuracy": float(accuracy)}, warmup, baseline=baseline)


def export(
    output: Path,
    version: int = 1,
    epochs: int = DEFAULT_EPOCHS,
    samples: int | None = None,
    *,
    force: bool = False,
    verbose: int = 0,
) -> Path:
    """Train and export the digit classifier as ``output/version`` (TF Serving layout); return that path."""
    return train_and_save(train, output, version, epochs, samples, force=force, verbose=verbose)
