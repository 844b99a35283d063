"""Baseline (a), the seeds' pattern: the ~20-line blog-post server, reproduced as written.

A Keras model loaded at import, ``model.predict(np.array(instances))`` per request, ``request.get_json()`` in and
``jsonify`` out, run with ``gunicorn --workers 1 --threads 8 --timeout 0 seed_flask:app`` (Cloud Run's sample
command). The model file (``SEED_MODEL_PATH``) is the demo model's Keras export, with the SavedModel's weights.
"""

import os

import numpy as np
import tensorflow as tf
from flask import Flask, jsonify, request

app = Flask(__name__)
model = tf.keras.models.load_model(os.environ.get("SEED_MODEL_PATH", "model.keras"))


@app.route("/predict", methods=["POST"])
def predict():
    """Predict digits for ``{"instances": [...]}``."""
    instances = request.get_json()["instances"]
    probabilities = model.predict(np.array(instances))
    predictions = [{"digit": int(np.argmax(p)), "probabilities": p.tolist()} for p in probabilities]
    return jsonify({"predictions": predictions})
