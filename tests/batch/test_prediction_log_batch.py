"""Prediction entries from the batch job (``--prediction-log-sample`` / PREDICTION_LOG_SAMPLE): one per sampled
predicted line, protocol "batch", request id ``<input uri>#<line number>``; none for bad or blank lines."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.batch.predict import BatchPredictor
from app.batch.run import run_task
from app.batch.settings import BatchSettings
from app.model import Model
from app.prediction_log import PredictionLog
from app.predictor import Predictor
from app.settings import PredictionLogSettings, Settings
from tests.batch.test_job import local_settings, write_local_inputs
from tests.web.test_prediction_log_api import captured_log


def test_every_predicted_line_is_an_entry_with_a_stable_request_id(tmp_path: Path, toy_model_dir: Path) -> None:
    # "checked" computes sqrt(x) and rejects x < 0 in the graph; "text" is not a number; the blank line is nothing.
    write_local_inputs(tmp_path, {"a.jsonl": b"4\n-1\n9\n", "b.jsonl": b'16\n"text"\n\n25\n'})
    settings = local_settings(tmp_path, toy_model_dir, "--signature", "checked", "--prediction-log-sample", "1")
    with captured_log() as log:
        summary = run_task(settings)
    entries = log.entries()
    assert summary["predicted"] == len(entries) == 4
    a, b = tmp_path / "in" / "a.jsonl", tmp_path / "in" / "b.jsonl"
    assert [e["request_id"] for e in entries] == [f"{a}#1", f"{a}#3", f"{b}#1", f"{b}#4"]
    for entry, x in zip(entries, (4.0, 9.0, 16.0, 25.0), strict=True):
        assert {k: entry[k] for k in ("protocol", "model_name", "model_version", "signature", "rows")} == {
            "protocol": "batch",
            "model_name": settings.server.model_name,
            "model_version": "7",
            "signature": "checked",
            "rows": 1,
        }
        assert (json.loads(entry["inputs"]), json.loads(entry["outputs"])) == ({"x": [x]}, {"sqrt": [x**0.5]})
        assert entry["truncated"] is False and entry["latency_ms"] > 0


def test_without_the_flag_or_variable_nothing_is_logged(tmp_path: Path, toy_model_dir: Path) -> None:
    write_local_inputs(tmp_path, {"a.jsonl": b"1\n2\n"})
    with captured_log() as log:
        assert run_task(local_settings(tmp_path, toy_model_dir, "--signature", "single"))["predicted"] == 2
    assert log.lines() == []


def test_the_variable_applies_and_the_flag_overrides_it() -> None:
    def parse(*flags: str, **env: str) -> PredictionLogSettings:
        return BatchSettings.from_args(["--input", "in.jsonl", "--output", "out", *flags], env).server.prediction_log

    assert parse() == PredictionLogSettings(sample=0.0)
    assert parse(PREDICTION_LOG_SAMPLE="0.5", PREDICTION_LOG_REDACT="x") == PredictionLogSettings(0.5, ("x",))
    assert parse("--prediction-log-sample", "0", PREDICTION_LOG_SAMPLE="1").sample == 0.0
    assert parse("--prediction-log-sample", "0.25").sample == 0.25


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half", "nan"])
def test_a_bad_flag_is_a_usage_error(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        BatchSettings.from_args(["--input", "in.jsonl", "--output", "out", "--prediction-log-sample", value], {})
    assert exit_info.value.code == 2
    assert "--prediction-log-sample" in capsys.readouterr().err


def test_each_line_is_sampled_on_its_own(toy_model_dir: Path) -> None:
    predictor = Predictor(Model.load(toy_model_dir / "7"), "toy", 7)
    predictor.mark_ready()
    log = PredictionLog(PredictionLogSettings(sample=0.3), random=random.Random(5).random)
    model = BatchPredictor(predictor, "single", Settings(), batch_size=64, prediction_log=log)
    lines = [b"%d" % i for i in range(200)]
    outcomes = model.outcomes(model.prepare(lines))
    reference = random.Random(5)
    expected = [f"in#{i + 1}" for i in range(200) if reference.random() < 0.3]
    with captured_log() as captured:
        model.log_sampled([f"in#{i + 1}" for i in range(200)], outcomes)
    entries = captured.entries()
    assert [e["request_id"] for e in entries] == expected
    assert all(json.loads(e["inputs"]) == {"x": [float(e["request_id"][3:]) - 1]} for e in entries)
