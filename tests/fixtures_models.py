"""Demo SavedModels for tests, each exported once per session into a TF Serving base directory.

Trained on small subsets for one epoch, so they take seconds and their accuracy means nothing; the signatures,
in-graph pre/post-processing and warm-up files are the real ones. TensorFlow is imported only when a test asks
for one of these fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MNIST_SAMPLES = 300
MAINTENANCE_SAMPLES = 1000
EPOCHS = 1


@pytest.fixture(scope="session")
def mnist_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base directory with version ``1/`` of the MNIST model (``image`` -> ``probabilities``, ``digit``)."""
    from model_export import mnist

    base = tmp_path_factory.mktemp("mnist")
    mnist.export(base, version=1, epochs=EPOCHS, samples=MNIST_SAMPLES)
    return base


@pytest.fixture(scope="session")
def maintenance_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base directory holding version ``1/`` of the maintenance model (four sensors -> probability, risk)."""
    from model_export import maintenance

    base = tmp_path_factory.mktemp("maintenance")
    maintenance.export(base, version=1, epochs=EPOCHS, samples=MAINTENANCE_SAMPLES)
    return base
