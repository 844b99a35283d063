"""Predictive-maintenance demo: failure probability and risk level from four sensor readings.

Synthetic data (seeded ``numpy.random.Generator``), one row per machine reading:

- ``temperature`` °C ~ Normal(70, 12), ``vibration`` mm/s ~ Gamma(2, 1.5), ``pressure`` bar ~ Normal(6, 1.2),
  ``rpm`` ~ Uniform(800, 4000).
- Rule score (logit)
  ``s = -3 + 0.25·max(T-80, 0) + 1.2·max(V-5, 0) + 1.5·max(|P-6|-1.5, 0) + 0.004·max(rpm-3000, 0)``:
  risk rises above 80 °C, above 5 mm/s, more than 1.5 bar from the 6-bar nominal and above 3000 rpm.
- Label ``failure = Bernoulli(sigmoid(s + ε))`` with ``ε ~ Normal(0, 0.5)``.

Serving signature ``serving_default`` takes four float32 [None] tensors
``temperature, vibration, pressure, rpm`` and returns ``failure_probability`` float32 [None] and
``risk_level`` string [None]: ``LOW`` if p < 0.3, ``MEDIUM`` if 0.3 <= p < 0.7, ``HIGH`` if p >= 0.7.
Normalisation and the thresholds live in the graph, so a generic server needs no model-specific code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from app.drift_baseline import build_baseline
from app.warmup import WarmupRequest
from model_export.common import SEED, SIGNATURE, TrainedModel, deterministic, train_and_save

logger = logging.getLogger(__name__)

NAME = "maintenance"
FEATURES = ("temperature", "vibration", "pressure", "rpm")
DEFAULT_EPOCHS = 10
DEFAULT_SAMPLES = 10_000
MEDIUM_THRESHOLD = 0.3
HIGH_THRESHOLD = 0.7
# Readings for the printed sanity check and the warm-up file: (temperature, vibration, pressure, rpm).
EXAMPLES = {"hot, vibrating machine": (105.0, 9.0, 6.0, 2000.0), "nominal machine": (65.0, 2.0, 6.0, 1500.0)}


def rule_score(x: np.ndarray) -> np.ndarray:
    """The documented failure-risk rule (logit) for rows of ``[temperature, vibration, pressure, rpm]``."""
    t, v, p, r = x.T
    return (
        -3.0
        + 0.25 * np.maximum(t - 80, 0)
        + 1.2 * np.maximum(v - 5, 0)
        + 1.5 * np.maximum(np.abs(p - 6) - 1.5, 0)
        + 0.004 * np.maximum(r - 3000, 0)
    )


def generate(samples: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` synthetic readings (float32, columns in ``FEATURES`` order) and 0/1 failure labels."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(70, 12, samples),
            rng.gamma(2.0, 1.5, samples),
            rng.normal(6, 1.2, samples),
            rng.uniform(800, 4000, samples),
        ]
    ).astype(np.float32)
    logit = rule_score(x) + rng.normal(0, 0.5, samples)
    labels = rng.binomial(1, 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, labels


def build_model(x_train: np.ndarray) -> keras.Model:
    """Normalisation adapted on ``x_train``, then a small MLP with a sigmoid output."""
    normalise = keras.layers.Normalization(name="normalise")
    normalise.adapt(x_train)
    return keras.Sequential(
        [
            keras.Input((len(FEATURES),), name="features"),
            normalise,
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name=NAME,
    )


def risk_level(probability: tf.Tensor) -> tf.Tensor:
    """``LOW`` below 0.3, ``MEDIUM`` from 0.3 up to 0.7, ``HIGH`` from 0.7 (string tensor, same shape)."""
    return tf.where(probability >= HIGH_THRESHOLD, "HIGH", tf.where(probability >= MEDIUM_THRESHOLD, "MEDIUM", "LOW"))


class MaintenanceServing(tf.Module):
    """Named scalar-per-row inputs in, probability and risk level out, all in one graph."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name=NAME)
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=name) for name in FEATURES])
    def serve(
        self, temperature: tf.Tensor, vibration: tf.Tensor, pressure: tf.Tensor, rpm: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Failure probability per reading and its LOW/MEDIUM/HIGH bucket."""
        features = tf.stack([temperature, vibration, pressure, rpm], axis=1)
        probability = tf.reshape(self.model(features, training=False), [-1])
        return {"failure_probability": probability, "risk_level": risk_level(probability)}


def _as_inputs(rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: rows[:, i].astype(np.float32) for i, name in enumerate(FEATURES)}


def train(epochs: int = DEFAULT_EPOCHS, samples: int | None = None, verbose: int = 0) -> TrainedModel:
    """Train deterministically; return the model with held-out accuracy/AUC, sanity-check notes and the drift
    baseline (a sample of each sensor's training readings)."""
    with deterministic():
        x, y = generate(samples or DEFAULT_SAMPLES)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
        model = build_model(x_train)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs, batch_size=64, validation_data=(x_test, y_test), verbose=verbose)
    module = MaintenanceServing(model)
    probability = module.serve(**_as_inputs(x_test))["failure_probability"].numpy()
    metrics = {
        "accuracy": float(np.mean((probability >= 0.5) == y_test)),
        "auc": float(roc_auc_score(y_test, probability)),
    }
    logger.info("Maintenance held-out accuracy %.4f, AUC %.4f", metrics["accuracy"], metrics["auc"])
    examples = np.array(list(EXAMPLES.values()), dtype=np.float32)
    warmup = [
        WarmupRequest(SIGNATURE, _as_inputs(examples)),
        WarmupRequest(SIGNATURE, _as_inputs(x_test[:1])),
    ]
    notes = _notes(module, examples, x_test, y_test)
    baseline = build_baseline(_as_inputs(x_train), SIGNATURE, seed=SEED)
    return TrainedModel(NAME, module, metrics, warmup, notes, baseline)


def _notes(module: MaintenanceServing, examples: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> list[str]:
    """What the model says about the ``EXAMPLES``, and the best score the noisy labels allow."""
    outputs = module.serve(**_as_inputs(examples))
    levels, probabilities = outputs["risk_level"].numpy(), outputs["failure_probability"].numpy()
    notes = [
        f"{label}: {level.decode()} (p={p:.3f})"
        for label, level, p in zip(EXAMPLES, levels, probabilities, strict=True)
    ]
    score = rule_score(x_test)  # the labels are noisy draws, so even the generating rule is far from 100%
    accuracy, auc = np.mean((score >= 0) == y_test), roc_auc_score(y_test, score)
    return [*notes, f"ceiling (the noiseless rule itself): accuracy {accuracy:.4f}, AUC {auc:.4f}"]


def export(
    output: Path,
    version: int = 1,
    epochs: int = DEFAULT_EPOCHS,
    samples: int | None = None,
    *,
    force: bool = False,
    verbose: int = 0,
) -> Path:
    """Train and export the maintenance model as ``output/version`` (TF Serving layout); return that path."""
    return train_and_save(train, output, version, epochs, samples, force=force, verbose=verbose)
