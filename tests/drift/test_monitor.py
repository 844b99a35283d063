"""DriftMonitor: live windows, periodic KS tests, one WARNING per drift episode, gauges, settings, threads."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

import app.drift
from app.drift import DriftMonitor, DriftSettings, RingBuffer
from app.drift_baseline import build_baseline, write_baseline
from app.errors import ModelLoadError
from app.settings import SettingsError
from model_export import maintenance, mnist

FEATURES = list(maintenance.FEATURES)
SIGNATURE = "serving_default"
UNSHIFTED_SEED = 2  # a fixed draw; like any draw, some seeds cross p = 0.05 by chance on one of four features


def _inputs(rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: rows[:, i].copy() for i, name in enumerate(FEATURES)}


def _feed(monitor: DriftMonitor, rows: np.ndarray, batch: int = 50, signature: str = SIGNATURE) -> None:
    for start in range(0, len(rows), batch):
        monitor.observe(signature, _inputs(rows[start : start + batch]))


def _drift_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.drift" and r.levelno == logging.WARNING]


@pytest.fixture
def monitor(maintenance_base_dir: Path) -> DriftMonitor:
    """A monitor of the exported maintenance model with the default settings."""
    return DriftMonitor.from_saved_model(maintenance_base_dir / "1", DriftSettings())


def _mnist_monitor(tmp_path: Path) -> DriftMonitor:
    x_train = mnist.load_data()[0]
    write_baseline(tmp_path, build_baseline({"image": x_train}, SIGNATURE))
    return DriftMonitor.from_saved_model(tmp_path)


# -- detection -------------------------------------------------------------------------------------------------
def test_readings_drawn_like_the_training_data_do_not_drift(
    monitor: DriftMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    rows, _ = maintenance.generate(1000, seed=UNSHIFTED_SEED)

    _feed(monitor, rows)
    report = monitor.report()

    assert set(report["features"]) == set(FEATURES)
    for feature in report["features"].values():
        assert feature["p_value"] >= 0.05 and not feature["drifted"]
        assert feature["samples"] == 1000 and feature["baseline_samples"] == 800
    assert not _drift_warnings(caplog)


def test_a_temperature_shift_drifts_temperature_only_and_warns_once(
    monitor: DriftMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    rows, _ = maintenance.generate(1000, seed=UNSHIFTED_SEED)
    rows[:, 0] += 15  # +15 °C

    with caplog.at_level(logging.INFO, "app.drift"):
        _feed(monitor, rows)
        report = monitor.report()
        monitor.report()
        _feed(monitor, rows)  # still drifted: periodic tests say nothing new

    temperature = report["features"]["temperature"]
    assert temperature["drifted"] and temperature["p_value"] < 1e-6 and temperature["statistic"] > 0.3
    assert [name for name, f in report["features"].items() if f["drifted"]] == ["temperature"]
    [warning] = _drift_warnings(caplog)
    assert "temperature" in warning.getMessage()
    fields = warning.json_fields
    assert fields["event"] == "drift_detected" and fields["feature"] == "temperature"
    assert fields["p_value"] < 1e-6 and fields["ks_statistic"] > 0.3
    assert fields["baseline_samples"] == 800 and fields["window_samples"] >= 100


def test_drift_is_logged_again_only_after_recovering(monitor: DriftMonitor, caplog: pytest.LogCaptureFixture) -> None:
    normal, _ = maintenance.generate(1000, seed=UNSHIFTED_SEED)
    hot = normal.copy()
    hot[:, 0] += 15

    with caplog.at_level(logging.INFO, "app.drift"):
        for rows in (hot, normal, hot):
            _feed(monitor, rows)  # each fills the whole 1,000-value window
            monitor.report()

    events = [r.json_fields["event"] for r in caplog.records if hasattr(r, "json_fields")]
    assert events == ["drift_detected", "drift_recovered", "drift_detected"]


def test_mean_intensity_of_held_out_digits_does_not_drift_but_bright_or_inverted_ones_do(tmp_path: Path) -> None:
    x_test = mnist.load_data()[2]  # 360 held-out digits; the baseline is the 1,437 training digits

    results = {}
    for label, images in {
        "held-out": x_test,
        "brightened": np.clip(x_test * 1.3, 0.0, 1.0),
        "inverted": 1.0 - x_test,
    }.items():
        monitor = _mnist_monitor(tmp_path)
        for start in range(0, len(images), 32):
            monitor.observe(SIGNATURE, {"image": images[start : start + 32]})
        results[label] = monitor.report()["features"]["image:mean"]

    assert results["held-out"]["p_value"] >= 0.05 and not results["held-out"]["drifted"]
    assert results["brightened"]["drifted"] and results["brightened"]["p_value"] < 1e-6
    assert results["inverted"]["drifted"] and results["inverted"]["statistic"] == 1.0
    assert {r["samples"] for r in results.values()} == {360}


# -- when tests run, what is observed --------------------------------------------------------------------------
def test_too_few_samples_report_null_and_nothing_drifts(monitor: DriftMonitor) -> None:
    rows, _ = maintenance.generate(99, seed=1)
    rows[:, 0] += 50

    _feed(monitor, rows)

    assert monitor.report()["features"]["temperature"] == {
        "statistic": None,
        "p_value": None,
        "drifted": False,
        "samples": 99,
        "baseline_samples": 800,
    }


def test_tests_run_every_eval_every_rows_not_per_request(
    maintenance_base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_test = app.drift.ks_2samp
    monkeypatch.setattr(app.drift, "ks_2samp", lambda a, b: calls.append(len(b)) or real_test(a, b))
    monitor = DriftMonitor.from_saved_model(maintenance_base_dir / "1", DriftSettings(eval_every=500))
    rows, _ = maintenance.generate(1200, seed=1)

    _feed(monitor, rows, batch=10)  # 120 requests

    assert calls == [500] * 4 + [1000] * 4  # after rows 500 and 1000, each of the four features once


def test_periodic_test_warns_without_anyone_asking(maintenance_base_dir: Path, caplog) -> None:
    monitor = DriftMonitor.from_saved_model(maintenance_base_dir / "1", DriftSettings(eval_every=200))
    rows = maintenance.generate(1000, seed=UNSHIFTED_SEED)[0][:200]
    rows[:, 0] += 15

    _feed(monitor, rows)

    assert [r.json_fields["feature"] for r in _drift_warnings(caplog)] == ["temperature"]


def test_only_the_baseline_signature_or_one_with_the_same_inputs_is_observed(monitor: DriftMonitor) -> None:
    rows, _ = maintenance.generate(10, seed=1)

    monitor.observe(SIGNATURE, _inputs(rows))
    monitor.observe("alias_with_the_same_inputs", _inputs(rows))
    monitor.observe("other", {"temperature": rows[:, 0]})  # another signature, other inputs: not this traffic
    monitor.observe(SIGNATURE, {"temperature": rows[:, :2]})  # wrong rank for a "value" feature: skipped

    assert monitor.report()["features"]["temperature"]["samples"] == 20


def test_non_finite_values_are_not_counted(monitor: DriftMonitor) -> None:
    rows, _ = maintenance.generate(10, seed=1)
    rows[:3, 0] = [np.nan, np.inf, -np.inf]

    monitor.observe(SIGNATURE, _inputs(rows))

    samples = {name: f["samples"] for name, f in monitor.report()["features"].items()}
    assert samples == {"temperature": 7, "vibration": 10, "pressure": 10, "rpm": 10}


def test_observe_never_raises(monitor: DriftMonitor, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    def broken(statistic: str, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.drift, "summarise", broken)
    rows, _ = maintenance.generate(10, seed=1)

    monitor.observe(SIGNATURE, _inputs(rows))
    monitor.observe(SIGNATURE, _inputs(rows))

    errors = [r for r in caplog.records if r.name == "app.drift" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info  # logged once, with the traceback


# -- bounded memory and threads --------------------------------------------------------------------------------
def test_ring_buffer_keeps_exactly_the_last_values() -> None:
    ring = RingBuffer(50)
    stream = np.arange(1000, dtype=float)
    position = 0
    for size in [1, 7, 49, 50, 3, 120, 13, 0, 48, 2]:  # wrap-arounds, exact fits and oversized batches
        ring.extend(stream[position : position + size])
        position += size
        held = np.sort(ring.snapshot())
        np.testing.assert_array_equal(held, stream[max(position - 50, 0) : position])


def test_window_memory_does_not_grow_past_drift_window(maintenance_base_dir: Path) -> None:
    monitor = DriftMonitor.from_saved_model(maintenance_base_dir / "1", DriftSettings(window=200, min_samples=100))
    buffers = list(monitor._windows.values())
    sizes = [b._values.nbytes for b in buffers]
    rows, _ = maintenance.generate(20_000, seed=1)

    _feed(monitor, rows, batch=333)

    assert {f["samples"] for f in monitor.report()["features"].values()} == {200}
    assert [b._values.nbytes for b in buffers] == sizes == [200 * 8] * 4


def test_observe_from_eight_threads_loses_nothing(maintenance_base_dir: Path) -> None:
    settings = DriftSettings(window=100_000, eval_every=700)  # the window holds all 8 x 4,000 rows
    monitor = DriftMonitor.from_saved_model(maintenance_base_dir / "1", settings)
    failures: list[BaseException] = []

    def client(seed: int) -> None:
        try:
            rows, _ = maintenance.generate(4000, seed=seed)
            _feed(monitor, rows, batch=25)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures
    report = monitor.report()
    assert {f["samples"] for f in report["features"].values()} == {32_000}
    assert not any(f["drifted"] for f in report["features"].values())


# -- gauges ----------------------------------------------------------------------------------------------------
def test_results_are_published_as_gauges(monitor: DriftMonitor) -> None:
    rows, _ = maintenance.generate(1000, seed=UNSHIFTED_SEED)
    rows[:, 0] += 15

    _feed(monitor, rows)
    features = monitor.report()["features"]

    def gauge(name: str, feature: str) -> float | None:
        return REGISTRY.get_sample_value(f"model_server_drift_{name}", {"feature": feature})

    assert gauge("detected", "temperature") == 1.0 and gauge("detected", "rpm") == 0.0
    assert gauge("ks_statistic", "temperature") == features["temperature"]["statistic"]
    assert gauge("p_value", "pressure") == features["pressure"]["p_value"]


def test_gauges_aggregate_towards_drift_over_workers(tmp_path: Path) -> None:
    # Each worker tests its own traffic; /metrics reports the worst live worker.
    for statistic, p_value, drifted in [(0.05, 0.4, "False"), (0.3, 1e-9, "True")]:
        code = f"from app import drift_metrics; drift_metrics.record('rpm', {statistic}, {p_value}, {drifted})"
        env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": ""}
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=Path(__file__).parents[2])
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))

    def value(name: str) -> float | None:
        return registry.get_sample_value(f"model_server_drift_{name}", {"feature": "rpm"})

    assert (value("ks_statistic"), value("p_value"), value("detected")) == (0.3, 1e-9, 1.0)


def test_importing_the_monitor_leaves_prometheus_client_unimported() -> None:
    # gunicorn's master may import app.drift before it sets PROMETHEUS_MULTIPROC_DIR; prometheus_client chooses
    # in-process or multiprocess storage once, on import, so an early import would break /metrics for every worker.
    code = "import sys, app.drift; assert 'prometheus_client' not in sys.modules, 'imported too early'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# -- enabling and settings -------------------------------------------------------------------------------------
def test_a_model_without_baseline_is_not_monitored(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, "app.drift"):
        monitor = DriftMonitor.from_saved_model(tmp_path)
    monitor.observe(SIGNATURE, {"x": np.ones(3)})

    assert not monitor.enabled
    assert monitor.report() == {"enabled": False, "threshold": 0.05, "window": 1000, "min_samples": 100, "features": {}}
    assert [r.getMessage() for r in caplog.records] == [
        "drift monitoring off: the model has no assets.extra/feature_baseline.json"
    ]


def test_a_malformed_baseline_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "feature_baseline.json").write_text("{")

    with pytest.raises(ModelLoadError, match="invalid drift baseline: .*feature_baseline.json is unreadable"):
        DriftMonitor.from_saved_model(tmp_path)


def test_settings_defaults_and_environment() -> None:
    assert DriftSettings.from_env({}) == DriftSettings(window=1000, min_samples=100, p_threshold=0.05, eval_every=500)
    env = {"DRIFT_WINDOW": "5000", "DRIFT_MIN_SAMPLES": "5000", "DRIFT_P_THRESHOLD": "1e-3", "DRIFT_EVAL_EVERY": "1"}
    assert DriftSettings.from_env(env) == DriftSettings(window=5000, min_samples=5000, p_threshold=0.001, eval_every=1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DRIFT_WINDOW": "lots"}, "DRIFT_WINDOW='lots' is not an integer"),
        ({"DRIFT_WINDOW": "5"}, r"DRIFT_WINDOW=5 is out of range \[10, 1000000\]"),
        ({"DRIFT_MIN_SAMPLES": "0"}, r"DRIFT_MIN_SAMPLES=0 is out of range"),
        ({"DRIFT_MIN_SAMPLES": "2000"}, "DRIFT_MIN_SAMPLES=2000 must not exceed DRIFT_WINDOW=1000"),
        ({"DRIFT_P_THRESHOLD": "five percent"}, "DRIFT_P_THRESHOLD='five percent' is not a number"),
        ({"DRIFT_P_THRESHOLD": "1"}, r"DRIFT_P_THRESHOLD=1 must be between 0 and 1 \(exclusive\)"),
        ({"DRIFT_P_THRESHOLD": "nan"}, "DRIFT_P_THRESHOLD=nan must be between 0 and 1"),
        ({"DRIFT_EVAL_EVERY": "0"}, "DRIFT_EVAL_EVERY=0 is out of range"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DriftSettings.from_env(env)
