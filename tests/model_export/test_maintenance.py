"""The predictive-maintenance export, the atomic and deterministic save, and the ``model_export`` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from app.warmup import read_warmup_requests
from model_export import maintenance
from model_export.common import ExportExistsError

REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["temperature", "vibration", "pressure", "rpm"]


@pytest.fixture(scope="module")
def serving_fn(maintenance_base_dir: Path):
    return tf.saved_model.load(str(maintenance_base_dir / "1")).signatures["serving_default"]


def _readings(samples: int) -> dict[str, tf.Tensor]:
    x, _ = maintenance.generate(samples, seed=1)
    return {name: tf.constant(x[:, i]) for i, name in enumerate(FEATURES)}


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_export", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generated_data_is_seeded_and_plausible() -> None:
    x, y = maintenance.generate(2000)

    np.testing.assert_array_equal(x, maintenance.generate(2000)[0])
    assert x.dtype == np.float32 and x.shape == (2000, 4)
    assert 0.1 < y.mean() < 0.5  # failures are the minority, but not rare
    assert x[:, 1].min() > 0 and x[:, 3].min() >= 800 and x[:, 3].max() <= 4000
    # The rule ranks labels well: failing machines score higher on average.
    assert maintenance.rule_score(x)[y == 1].mean() > maintenance.rule_score(x)[y == 0].mean() + 1


def test_signature_names_dtypes_and_shapes(serving_fn) -> None:
    args, kwargs = serving_fn.structured_input_signature

    assert args == ()
    assert kwargs == {name: tf.TensorSpec([None], tf.float32, name=name) for name in FEATURES}
    outputs = serving_fn.structured_outputs
    assert set(outputs) == {"failure_probability", "risk_level"}
    assert outputs["failure_probability"].dtype == tf.float32
    assert outputs["failure_probability"].shape.as_list() == [None]
    assert outputs["risk_level"].dtype == tf.string
    assert outputs["risk_level"].shape.as_list() == [None]


@pytest.mark.parametrize(
    ("probability", "level"),
    [
        (0.0, b"LOW"),
        (0.2999, b"LOW"),
        (0.3, b"MEDIUM"),
        (0.6999, b"MEDIUM"),
        (0.7, b"HIGH"),
        (1.0, b"HIGH"),
    ],
)
def test_risk_level_boundaries(probability: float, level: bytes) -> None:
    assert maintenance.risk_level(tf.constant([probability], tf.float32)).numpy().tolist() == [level]


def test_in_graph_risk_level_agrees_with_probability(serving_fn) -> None:
    inputs = _readings(3000)
    # Add readings far outside the training data so the extremes are covered.
    for name, extreme in zip(FEATURES, ([130.0, 20.0], [20.0, 0.1], [15.0, 6.0], [6000.0, 1000.0]), strict=True):
        inputs[name] = tf.concat([inputs[name], tf.constant(extreme)], axis=0)

    outputs = serving_fn(**inputs)

    p = outputs["failure_probability"].numpy()
    assert p.shape == (3002,) and p.min() >= 0.0 and p.max() <= 1.0
    expected = np.where(p >= 0.7, b"HIGH", np.where(p >= 0.3, b"MEDIUM", b"LOW"))
    np.testing.assert_array_equal(outputs["risk_level"].numpy(), expected)


def test_warmup_file_matches_the_signature(maintenance_base_dir: Path, serving_fn) -> None:
    requests = read_warmup_requests(maintenance_base_dir / "1")

    assert requests
    for request in requests:
        assert sorted(request.inputs) == sorted(FEATURES)
        serving_fn(**{name: tf.constant(value) for name, value in request.inputs.items()})


def test_reexport_with_force_is_deterministic_and_leaves_no_temp_dirs(tmp_path: Path) -> None:
    inputs = _readings(50)
    first = maintenance.export(tmp_path, epochs=1, samples=500)
    before = tf.saved_model.load(str(first)).signatures["serving_default"](**inputs)["failure_probability"]

    second = maintenance.export(tmp_path, epochs=1, samples=500, force=True)

    after = tf.saved_model.load(str(second)).signatures["serving_default"](**inputs)["failure_probability"]
    assert second == first == tmp_path / "1"
    np.testing.assert_array_equal(before.numpy(), after.numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["1"]
    assert second.stat().st_mode & 0o755 == 0o755  # readable by a server running as another user


def test_export_without_force_keeps_the_existing_version(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "keep.txt").write_text("old")

    with pytest.raises(ExportExistsError):
        maintenance.export(tmp_path, epochs=1, samples=500)
    assert (tmp_path / "1" / "keep.txt").read_text() == "old"


def test_cli_exports_prints_accuracy_then_refuses_to_overwrite(tmp_path: Path) -> None:
    done = _run_cli("maintenance", "--output", str(tmp_path), "--version", "2", "--epochs", "1")

    assert done.returncode == 0, done.stderr
    assert "held-out accuracy: 0." in done.stdout
    assert "hot, vibrating machine: HIGH" in done.stdout
    assert f"exported: {tmp_path / '2'}" in done.stdout
    assert (tmp_path / "2" / "saved_model.pb").is_file()

    again = _run_cli("maintenance", "--output", str(tmp_path), "--version", "2", "--epochs", "1")

    assert again.returncode == 2
    assert "already exists" in again.stderr and "--force" in again.stderr
