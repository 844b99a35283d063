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


@pytest.fixture(scope="session")
def half_plus_two_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TF Serving's half_plus_two test model (``model_export.half_plus_two``) as ``base/123/``, as in its testdata."""
    from model_export import half_plus_two

    base = tmp_path_factory.mktemp("half_plus_two")
    half_plus_two.export(base, version=123)
    return base


@pytest.fixture(scope="session")
def half_plus_three_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TF Serving's half_plus_three test model (``y = 0.5x + 3``) as ``base/123/``."""
    from model_export import half_plus_two

    base = tmp_path_factory.mktemp("half_plus_three")
    half_plus_two.export(base, version=123, b=3.0, half_plus_three=True)
    return base


@pytest.fixture(scope="session")
def half_plus_two_2_versions_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions, as TF Serving's ``saved_model_half_plus_two_2_versions``: ``123/`` computes 0.5x + 2 and
    ``124/`` computes 0.5x + 3, so a test can tell which version answered."""
    from model_export import half_plus_two

    base = tmp_path_factory.mktemp("half_plus_two_2_versions")
    half_plus_two.export(base, version=123)
    half_plus_two.export(base, version=124, b=3.0)
    return base
