"""``assets.extra/feature_baseline.json``: written by ``model_export`` from the training data, read by the server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.drift_baseline import (
    BASELINE_FILE,
    MAX_SAMPLE,
    Baseline,
    BaselineError,
    build_baseline,
    read_baseline,
    summarise,
    write_baseline,
)
from model_export import maintenance, mnist
from tests.fixtures_models import MAINTENANCE_SAMPLES, MNIST_SAMPLES

TRAIN_FRACTION = 0.8  # both demo models hold out 20%


def _document(base_dir: Path) -> dict:
    return json.loads((base_dir / "1" / BASELINE_FILE).read_text())


def test_maintenance_export_has_a_baseline_of_its_four_sensors(maintenance_base_dir: Path) -> None:
    document = _document(maintenance_base_dir)

    train_rows = int(MAINTENANCE_SAMPLES * TRAIN_FRACTION)
    assert document["format_version"] == 1 and document["signature_name"] == "serving_default"
    assert list(document["features"]) == ["temperature", "vibration", "pressure", "rpm"]
    for name, feature in document["features"].items():
        assert {k: v for k, v in feature.items() if k != "sample"} == {
            "input": name,
            "statistic": "value",
            "n": train_rows,
            "training_rows": train_rows,
        }
        assert len(feature["sample"]) == train_rows and feature["sample"] == sorted(feature["sample"])
    temperature = np.array(document["features"]["temperature"]["sample"])
    assert 67 < temperature.mean() < 73 and 10 < temperature.std() < 14  # Normal(70, 12)


def test_mnist_export_has_the_mean_pixel_intensity_of_its_training_images(mnist_base_dir: Path) -> None:
    document = _document(mnist_base_dir)

    x_train = mnist.load_data(MNIST_SAMPLES)[0]
    feature = document["features"]["image:mean"]
    assert list(document["features"]) == ["image:mean"]
    assert (feature["input"], feature["statistic"], feature["n"]) == ("image", "mean", len(x_train))
    expected = np.sort(x_train.reshape(len(x_train), -1).mean(axis=1))
    np.testing.assert_allclose(feature["sample"], expected, rtol=1e-6)


def test_the_sample_is_bounded_and_seeded() -> None:
    x, _ = maintenance.generate(10_000)
    inputs = {name: x[:, i] for i, name in enumerate(maintenance.FEATURES)}

    first, again = build_baseline(inputs, "serving_default"), build_baseline(inputs, "serving_default")
    other_seed = build_baseline(inputs, "serving_default", seed=1)

    temperature = first.features["temperature"]
    assert temperature.n == MAX_SAMPLE and temperature.training_rows == 10_000
    np.testing.assert_array_equal(temperature.sample, again.features["temperature"].sample)
    assert not np.array_equal(temperature.sample, other_seed.features["temperature"].sample)
    assert set(temperature.sample) <= set(x[:, 0].astype(np.float64))  # drawn from the data, not resampled


def test_statistic_follows_the_input_rank_and_strings_are_left_out() -> None:
    inputs = {
        "x": np.arange(6, dtype=np.float32),
        "image": np.ones((6, 4, 4, 1), np.float32) * np.arange(6).reshape(6, 1, 1, 1),
        "text": np.array([b"a"] * 6, dtype=object),
    }

    baseline = build_baseline(inputs, "serving_default")

    assert {name: (f.input, f.statistic) for name, f in baseline.features.items()} == {
        "x": ("x", "value"),
        "image:mean": ("image", "mean"),
    }
    np.testing.assert_array_equal(baseline.features["image:mean"].sample, np.arange(6))
    assert summarise("mean", np.empty((0, 4, 4, 1))).shape == (0,)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    baseline = build_baseline({"a": rng.normal(size=300), "b": rng.uniform(size=(300, 3))}, "sig", seed=4)

    write_baseline(tmp_path, baseline)
    loaded = read_baseline(tmp_path)

    assert isinstance(loaded, Baseline) and (loaded.signature_name, loaded.seed) == ("sig", 4)
    assert list(loaded.features) == ["a", "b:mean"]
    for name, feature in baseline.features.items():
        np.testing.assert_allclose(loaded.features[name].sample, feature.sample, rtol=1e-6)
        assert loaded.features[name].training_rows == 300


def test_a_model_without_a_baseline_reads_as_none(tmp_path: Path) -> None:
    assert read_baseline(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable"),
        ('{"format_version": 2, "signature_name": "s", "features": {}}', "format_version 2"),
        ('{"format_version": 1, "features": {}}', "malformed"),
        ('{"format_version": 1, "signature_name": "s", "features": {"a": {"input": "a"}}}', "malformed"),
        (
            '{"format_version": 1, "signature_name": "s", "features": '
            '{"a": {"input": "a", "statistic": "median", "sample": [1]}}}',
            "unknown statistic 'median'",
        ),
        (
            '{"format_version": 1, "signature_name": "s", "features": '
            '{"a": {"input": "a", "statistic": "value", "sample": []}}}',
            "non-empty list of finite numbers",
        ),
        ("[]", "malformed"),
    ],
)
def test_a_malformed_baseline_is_an_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / BASELINE_FILE).parent.mkdir()
    (tmp_path / BASELINE_FILE).write_text(content)

    with pytest.raises(BaselineError, match=message) as caught:
        read_baseline(tmp_path)
    assert str(BASELINE_FILE) in str(caught.value)
