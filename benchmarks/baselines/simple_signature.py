"""Baseline (b), careful-simple: Flask calling the SavedModel's serving signature directly.

Loaded once per worker (gunicorn imports this module in each worker after fork: no ``--preload``), warmed up with
one call, then each request is one signature call on a float32 tensor. Run with Google's recommended
``gunicorn --workers 1 --threads 8 --timeout 0 simple_signature:app``. ``MODEL_PATH`` is the SavedModel directory.
"""

import os

import numpy as np
import tensorflow as tf
from flask import Flask, jsonify, request

app = Flask(__name__)
signature = tf.saved_model.load(os.environ["MODEL_PATH"]).signatures["serving_default"]
signature(image=tf.zeros([1, 28, 28, 1], tf.float32))  # trace and allocate before the first request


@app.route("/predict", methods=["POST"])
def predict():
    """Predict digits for ``{"instances": [...]}`` (28x28x1 images)."""
    image = tf.constant(np.asarray(request.get_json()["instances"], dtype=np.float32))
    outputs = signature(image=image)
    digits, probabilities = outputs["digit"].numpy(), outputs["probabilities"].numpy()
    predictions = [{"digit": int(d), "probabilities": p.tolist()} for d, p in zip(digits, probabilities, strict=True)]
    return jsonify({"predictions": predictions})
