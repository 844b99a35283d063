"""Build the benchmark's inputs once: ``python -m benchmarks.prepare WORK_DIR`` (runs in its own process).

Trains the demo MNIST model exactly as ``python -m model_export mnist`` does (same code, seed and epochs) and writes,
under ``WORK_DIR``:

- ``models/mnist/1/``       the SavedModel our server and baseline (b) serve;
- ``models/mnist.keras``    the same trained Keras model (same weights) for the seed baseline (a), which loads a Keras
                            file as the blog post does; checked to give the same probabilities as the SavedModel;
- ``models/mnist-large/1/`` the same signature plus an unused ~110 MB float32 variable, for the GCS cold start;
- ``body.json``             ``{"instances": [one held-out 28x28x1 digit]}``, the body of every benchmark request;
- ``manifest.json``         what was built (sizes, the digit's label and the served prediction, the weight check).

TensorFlow is imported only here, so the harness process itself stays light while it measures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LARGE_VARIABLE_BYTES = 110 * 2**20
MANIFEST = "manifest.json"
ARTIFACTS = ("saved_model", "keras_model", "large_saved_model", "body")  # manifest keys holding paths


def directory_bytes(path: Path) -> int:
    """Total size of the files below ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(work_dir: Path) -> dict[str, object]:
    """Train, export every artifact into ``work_dir`` and return the manifest (also written to manifest.json)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from model_export import mnist
    from model_export.common import save

    models = work_dir / "models"
    trained = mnist.train()  # the defaults of `python -m model_export mnist`
    saved_model = save(trained, models / "mnist", 1, force=True)
    keras_path = models / "mnist.keras"
    trained.module.model.save(keras_path)

    _, _, x_test, y_test = mnist.load_data()
    image = x_test[0]
    (work_dir / "body.json").write_text(json.dumps({"instances": [image.tolist()]}))

    # The seed's file must hold the very weights the SavedModel serves: compare on the whole held-out set.
    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    served = signature(image=tf.constant(x_test))["probabilities"].numpy()
    reloaded = keras.models.load_model(keras_path).predict(x_test, verbose=0)
    max_diff = float(np.max(np.abs(served - reloaded)))
    if max_diff > 1e-5:
        raise SystemExit(f"the .keras export differs from the SavedModel (max |diff| {max_diff:.2e})")

    # ~110 MB of incompressible, unused weights: only the download and the variable restore get slower.
    rng = np.random.default_rng(0)
    trained.module.ballast = tf.Variable(rng.standard_normal(LARGE_VARIABLE_BYTES // 4, dtype=np.float32))
    large = save(trained, models / "mnist-large", 1, force=True)

    manifest: dict[str, object] = {
        "saved_model": str(saved_model),
        "keras_model": str(keras_path),
        "large_saved_model": str(large),
        "body": str(work_dir / "body.json"),
        "body_bytes": (work_dir / "body.json").stat().st_size,
        "digit_label": int(y_test[0]),
        "digit_predicted": int(np.argmax(served[0])),
        "heldout_accuracy": trained.metrics["accuracy"],
        "keras_vs_savedmodel_max_abs_diff": max_diff,
        "saved_model_bytes": directory_bytes(saved_model),
        "large_saved_model_bytes": directory_bytes(large),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    (work_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m benchmarks.prepare WORK_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.prepare WORK_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work_dir = Path(args[0]).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    manifest = build(work_dir)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
