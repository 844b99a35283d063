"""The batch job end to end: real ``python -m app.batch`` processes against the GCS emulator, and local paths.

The maintenance model and three input files (with bad and blank lines) are uploaded to the emulator; two tasks
run as two concurrent subprocesses, as Cloud Run Jobs would run them, and the results are read back through the
client. Local-path runs call ``run_task`` in-process (the TensorFlow import is paid once per session).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.batch.parts import OutputConflict
from app.batch.predict import BatchPredictor, Predicted, Rejected
from app.batch.run import run_task
from app.batch.settings import BatchSettings
from app.errors import ModelLoadError, StorageError
from app.model import Model
from app.predictor import Predictor
from app.settings import Settings, SettingsError
from tests.fixtures_gcs import GcsHelper

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 240
FEATURES = ("temperature", "vibration", "pressure", "rpm")

# Bad lines and the reason each must be reported with.
BAD_LINES = {
    b'{"temperature": 95, "vibration": 9.5,': "not valid JSON",
    b'{"temperature": 95, "vibration": 9.5, "pressure": 2}': "missing input 'rpm'",
    b'{"temperature": "hot", "vibration": 9.5, "pressure": 2, "rpm": 4200}': "must hold numbers",
    b"[95, 9.5, 2, 4200]": "must be an object keyed by input name",
    b'{"temperature": 95, "vibration": 9.5, "pressure": 2, "rpm": 4200, "humidity": 1}': "unknown input 'humidity'",
}


@dataclass(frozen=True)
class InputSet:
    """Input files as uploaded, and what each line should become."""

    files: dict[str, bytes]  # name (relative to the input prefix) -> content
    good: dict[tuple[str, int], dict[str, float]]  # (name, line number) -> the instance
    bad: dict[tuple[str, int], str]  # (name, line number) -> expected reason
    blank: set[tuple[str, int]]


def make_inputs(sizes: dict[str, int], seed: int = 7) -> InputSet:
    rng = random.Random(seed)
    files, good, bad, blank = {}, {}, {}, set()
    bad_lines = list(BAD_LINES)
    for name, count in sizes.items():
        lines = []
        for number in range(1, count + 1):
            roll = rng.random()
            if roll < 0.03:
                line = bad_lines[(len(bad) + number) % len(bad_lines)]
                bad[(name, number)] = BAD_LINES[line]
            elif roll < 0.04:
                line = b"  "
                blank.add((name, number))
            else:
                row = {
                    "temperature": round(rng.uniform(40, 110), 2),
                    "vibration": round(rng.uniform(0, 12), 2),
                    "pressure": round(rng.uniform(2, 10), 2),
                    "rpm": rng.randint(800, 4500),
                }
                line = json.dumps(row).encode()
                good[(name, number)] = row
            lines.append(line)
        # One file without a final newline: its last line still counts.
        files[name] = b"\n".join(lines) + (b"" if name.endswith("c.jsonl") else b"\n")
    return InputSet(files, good, bad, blank)


def expected_predictions(model_dir: Path, rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """The in-process ``Model.run`` of the same rows."""
    model = Model.load(model_dir)
    arrays = {name: np.array([row[name] for row in rows], dtype=np.float32) for name in FEATURES}
    return model.run("serving_default", arrays)


def job_env(tmp_path: Path, index: int, count: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AIP_", "CLOUD_RUN_TASK_"))}
    env.update(
        {
            "CLOUD_RUN_TASK_INDEX": str(index),
            "CLOUD_RUN_TASK_COUNT": str(count),
            "MODEL_CACHE_DIR": str(tmp_path / f"cache-{index}"),
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_job(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:  # a file, not a pipe: a chatty process can never block on it
        return subprocess.Popen(
            [sys.executable, "-m", "app.batch", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait(process: subprocess.Popen) -> int:
    try:
        return process.wait(TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def log_records(log_path: Path) -> list[dict]:
    """The structured log lines (TensorFlow's own stderr lines are not JSON and are skipped)."""
    records = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def read_jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def snapshot(gcs: GcsHelper, prefix: str) -> dict[str, tuple[int, str]]:
    """Every object under ``prefix``: name -> (generation, md5)."""
    return {b.name: (b.generation, b.md5_hash) for b in gcs.client.list_blobs(gcs.bucket_name, prefix=prefix)}


# ---- through the GCS emulator, as two real tasks ----------------------------------------------------------


@pytest.fixture
def gcs_job(gcs: GcsHelper, maintenance_base_dir: Path) -> Iterator[tuple[GcsHelper, InputSet, str]]:
    """The maintenance model and three input files on the emulator; yields (gcs, inputs, model uri)."""
    model_uri = gcs.upload_dir(maintenance_base_dir, "models/maintenance")
    inputs = make_inputs({"a.jsonl": 180, "b.jsonl": 9, "c.jsonl": 230})
    for name, data in inputs.files.items():
        gcs.bucket.blob(f"in/{name}").upload_from_string(data)
    gcs.bucket.blob("in/notes.txt").upload_from_string(b"not an input: the pattern does not match it")
    yield gcs, inputs, model_uri


def test_two_tasks_predict_every_line_once_and_a_rerun_skips(
    gcs_job: tuple[GcsHelper, InputSet, str], maintenance_base_dir: Path, tmp_path: Path
) -> None:
    gcs, inputs, model_uri = gcs_job
    args = ["--input", gcs.uri("in/*.jsonl"), "--output", gcs.uri("out/run-1"), "--model-uri", model_uri]
    args += ["--batch-size", "32", "--progress-seconds", "0"]
    logs = [tmp_path / f"task-{index}.log" for index in range(2)]
    processes = [start_job(args, job_env(tmp_path, index, 2), logs[index]) for index in range(2)]
    codes = [wait(process) for process in processes]
    assert codes == [0, 0], "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)

    names = sorted(b.name for b in gcs.client.list_blobs(gcs.bucket_name, prefix="out/"))
    assert names == [
        "out/run-1/errors/part-00000-of-00002.jsonl",
        "out/run-1/errors/part-00001-of-00002.jsonl",
        "out/run-1/part-00000-of-00002.done",
        "out/run-1/part-00000-of-00002.jsonl",
        "out/run-1/part-00001-of-00002.done",
        "out/run-1/part-00001-of-00002.jsonl",
    ]
    parts = [read_jsonl(gcs.bucket.blob(f"out/run-1/part-0000{i}-of-00002.jsonl").download_as_bytes()) for i in (0, 1)]
    errors = [
        read_jsonl(gcs.bucket.blob(f"out/run-1/errors/part-0000{i}-of-00002.jsonl").download_as_bytes()) for i in (0, 1)
    ]
    assert all(parts), "both tasks got work"

    # Every good line exactly once, in input order within each part; nothing else.
    prefix = gcs.uri("in") + "/"
    keys = [(r["file"].removeprefix(prefix), r["line"]) for part in parts for r in part]
    assert keys == sorted(inputs.good)
    assert len(keys) == len(set(keys))
    # The predictions are those of an in-process Model.run over the same rows.
    expected = expected_predictions(maintenance_base_dir / "1", [inputs.good[key] for key in keys])
    got = [r["prediction"] for part in parts for r in part]
    np.testing.assert_allclose(
        [p["failure_probability"] for p in got], expected["failure_probability"], rtol=1e-5, atol=1e-6
    )
    assert [p["risk_level"] for p in got] == [level.decode() for level in expected["risk_level"]]

    # Every bad line is in an error file with its reason; blank lines are in neither file.
    reported = {(r["file"].removeprefix(prefix), r["line"]): r["error"] for part in errors for r in part}
    assert set(reported) == set(inputs.bad)
    for key, reason in inputs.bad.items():
        assert reason in reported[key], (key, reported[key])

    markers = [json.loads(gcs.bucket.blob(f"out/run-1/part-0000{i}-of-00002.done").download_as_bytes()) for i in (0, 1)]
    assert sum(m["lines"] for m in markers) == sum(len(d.splitlines()) for d in inputs.files.values())
    assert [m["predicted"] for m in markers] == [len(p) for p in parts]
    assert sum(m["blank"] for m in markers) == len(inputs.blank)
    summaries = [[r for r in log_records(log) if "finished" in r.get("message", "")] for log in logs]
    assert all(len(s) == 1 and s[0]["lines_per_second"] > 0 for s in summaries)
    assert any("lines done" in r.get("message", "") for r in log_records(logs[0])), "no progress line"

    # Re-running a finished task changes nothing and says so (before loading any model).
    before = snapshot(gcs, "out/")
    rerun_log = tmp_path / "rerun.log"
    assert wait(start_job(args, job_env(tmp_path, 0, 2), rerun_log)) == 0, rerun_log.read_text()
    assert snapshot(gcs, "out/") == before
    messages = [r["message"] for r in log_records(rerun_log)]
    assert any(m.startswith("batch task 0/2 skipped: ") for m in messages), messages
    assert not any("ready in" in m for m in messages), "the model was loaded for nothing"


def test_missing_input_fails_with_one_clear_line(gcs: GcsHelper, tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    args = ["--input", gcs.uri("nothing/*.jsonl"), "--output", gcs.uri("out"), "--model-uri", "/nonexistent"]
    assert wait(start_job(args, job_env(tmp_path, 0, 1), log)) == 1
    errors = [r for r in log_records(log) if r["severity"] == "ERROR"]
    assert [r["message"] for r in errors] == [
        f"batch task 0/1 failed: no input object matches {gcs.uri()}/nothing/*.jsonl"
    ]
    assert snapshot(gcs, "out") == {}


def test_gcs_reads_exactly_the_listed_bytes_in_ranges(gcs: GcsHelper, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.batch import gcs_io

    data = b"".join(b"%d\n" % i for i in range(500))
    gcs.bucket.blob("in/x.jsonl").upload_from_string(data)
    monkeypatch.setattr(gcs_io, "CHUNK_BYTES", 7)
    backend = gcs_io.GcsBackend(gcs.client)
    (file,) = backend.list_inputs(gcs.uri("in/x.jsonl"))
    chunks = list(backend.read(file))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 7


def test_gcs_patterns_match_one_level_unless_double_star(gcs: GcsHelper) -> None:
    from app.batch.gcs_io import GcsBackend

    for name in ("in/a.jsonl", "in/b.jsonl", "in/sub/c.jsonl", "in/a.txt", "inx/d.jsonl"):
        gcs.bucket.blob(name).upload_from_string(b"1\n")
    backend = GcsBackend(gcs.client)
    listed = [f.uri.removeprefix(gcs.uri() + "/") for f in backend.list_inputs(gcs.uri("in/*.jsonl"))]
    assert listed == ["in/a.jsonl", "in/b.jsonl"]
    listed = [f.uri.removeprefix(gcs.uri() + "/") for f in backend.list_inputs(gcs.uri("in/**.jsonl"))]
    assert listed == ["in/a.jsonl", "in/b.jsonl", "in/sub/c.jsonl"]
    with pytest.raises(StorageError, match="not found"):
        backend.list_inputs(gcs.uri("in/missing.jsonl"))


# ---- local paths, in-process -------------------------------------------------------------------------------


def local_settings(tmp_path: Path, model_dir: Path, *extra: str, index: int = 0, count: int = 1) -> BatchSettings:
    argv = [
        "--input",
        str(tmp_path / "in" / "*.jsonl"),
        "--output",
        str(tmp_path / "out"),
        "--model-uri",
        str(model_dir),
    ]
    environ = {"CLOUD_RUN_TASK_INDEX": str(index), "CLOUD_RUN_TASK_COUNT": str(count), "LOG_FORMAT": "text"}
    return BatchSettings.from_args([*argv, *extra], environ)


def write_local_inputs(tmp_path: Path, files: dict[str, bytes]) -> None:
    (tmp_path / "in").mkdir()
    for name, data in files.items():
        (tmp_path / "in" / name).write_bytes(data)


def test_local_paths_with_lines_the_graph_rejects(tmp_path: Path, toy_model_dir: Path) -> None:
    # The toy model's "checked" signature asserts x >= 0 in the graph: -1 passes the codec, the graph rejects it.
    write_local_inputs(tmp_path, {"a.jsonl": b"4\n-1\n9\n", "b.jsonl": b'{"x": 16}\n"text"\n\n25\n-4\n'})
    summary = run_task(local_settings(tmp_path, toy_model_dir, "--signature", "checked", "--batch-size", "3"))

    out = tmp_path / "out"
    predicted = read_jsonl((out / "part-00000-of-00001.jsonl").read_bytes())
    a, b = str(tmp_path / "in" / "a.jsonl"), str(tmp_path / "in" / "b.jsonl")
    assert predicted == [
        {"file": a, "line": 1, "prediction": 2.0},
        {"file": a, "line": 3, "prediction": 3.0},
        {"file": b, "line": 1, "prediction": 4.0},
        {"file": b, "line": 4, "prediction": 5.0},
    ]
    errors = read_jsonl((out / "errors" / "part-00000-of-00001.jsonl").read_bytes())
    assert [(e["file"], e["line"]) for e in errors] == [(a, 2), (b, 2), (b, 5)]
    assert "x must be >= 0" in errors[0]["error"]
    assert "must hold numbers" in errors[1]["error"]
    assert (summary["lines"], summary["predicted"], summary["errors"], summary["blank"]) == (8, 4, 3, 1)
    assert sorted(p.name for p in out.iterdir()) == ["errors", "part-00000-of-00001.done", "part-00000-of-00001.jsonl"]


def test_local_tasks_split_one_file_and_rerun_is_a_no_op(tmp_path: Path, toy_model_dir: Path) -> None:
    write_local_inputs(tmp_path, {"only.jsonl": b"".join(b"%d\n" % i for i in range(100))})
    for index in range(3):  # fewer files than tasks: the tasks split the file by byte ranges
        run_task(local_settings(tmp_path, toy_model_dir, "--signature", "checked", index=index, count=3))
    parts = [read_jsonl((tmp_path / "out" / f"part-0000{i}-of-00003.jsonl").read_bytes()) for i in range(3)]
    assert all(parts)
    assert [r["line"] for part in parts for r in part] == list(range(1, 101))
    assert [r["prediction"] for part in parts for r in part] == pytest.approx([i**0.5 for i in range(100)])

    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    summary = run_task(local_settings(tmp_path, toy_model_dir, "--signature", "checked", index=1, count=3))
    assert summary["lines"] == len(parts[1])
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")} == before


def test_a_crashed_attempt_publishes_nothing_and_the_retry_completes(
    tmp_path: Path, toy_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_local_inputs(tmp_path, {"a.jsonl": b"".join(b"%d\n" % i for i in range(50))})
    settings = local_settings(tmp_path, toy_model_dir, "--signature", "checked", "--batch-size", "10")
    calls = []
    real_outcomes = BatchPredictor.outcomes

    def crash_on_third_batch(self, batch):
        calls.append(len(batch.lines))
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real_outcomes(self, batch)

    monkeypatch.setattr(BatchPredictor, "outcomes", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_task(settings)
    out = tmp_path / "out"
    assert [p for p in out.rglob("*") if p.is_file()] == [], "no partial or temporary file is left"

    monkeypatch.setattr(BatchPredictor, "outcomes", real_outcomes)
    summary = run_task(settings)
    assert summary["predicted"] == 50
    assert len(read_jsonl((out / "part-00000-of-00001.jsonl").read_bytes())) == 50


def test_results_of_another_run_are_not_mixed_in(tmp_path: Path, toy_model_dir: Path) -> None:
    write_local_inputs(tmp_path, {"a.jsonl": b"1\n2\n"})
    run_task(local_settings(tmp_path, toy_model_dir, "--signature", "checked"))
    (tmp_path / "in" / "a.jsonl").write_bytes(b"1\n2\n3\n")  # other inputs, same --output
    with pytest.raises(OutputConflict, match="records a different run"):
        run_task(local_settings(tmp_path, toy_model_dir, "--signature", "checked"))


def test_missing_model_or_signature_is_fatal(tmp_path: Path, toy_model_dir: Path) -> None:
    write_local_inputs(tmp_path, {"a.jsonl": b"1\n"})
    with pytest.raises(ModelLoadError, match="no SavedModel"):
        run_task(local_settings(tmp_path, tmp_path / "no-model"))
    with pytest.raises(ModelLoadError, match='signature name: "nope" not found'):
        run_task(local_settings(tmp_path, toy_model_dir, "--signature", "nope"))
    with pytest.raises(ModelLoadError, match="cannot be batched"):
        run_task(local_settings(tmp_path, toy_model_dir, "--signature", "scalar_out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.jsonl"))


# ---- isolating bad lines -----------------------------------------------------------------------------------


class CountingModel:
    """The real toy model, counting the rows of each call."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.signatures = model.signatures
        self.signature_defs = model.signature_defs
        self.calls: list[int] = []

    def run(self, signature_name, inputs):
        self.calls.append(len(next(iter(inputs.values()))))
        return self.model.run(signature_name, inputs)


@pytest.fixture(scope="module")
def counting(toy_model_dir: Path) -> Iterator[tuple[CountingModel, BatchPredictor]]:
    model = CountingModel(Model.load(toy_model_dir / "7"))
    predictor = Predictor(model, "toy", 7)
    predictor.mark_ready()
    yield model, BatchPredictor(predictor, "checked", Settings(), batch_size=8)


def test_malformed_lines_cost_one_more_batched_call(counting: tuple[CountingModel, BatchPredictor]) -> None:
    model, batch = counting
    model.calls.clear()
    outcomes = batch.predict([1, "a", 4, [1, 2], 9])
    assert [type(o) for o in outcomes] == [Predicted, Rejected, Predicted, Rejected, Predicted]
    assert [o.value for o in outcomes if isinstance(o, Predicted)] == [1.0, 2.0, 3.0]
    assert model.calls == [3]  # the valid lines together; the codec caught the others without a model call


def test_a_batch_the_graph_rejects_is_retried_line_by_line(counting: tuple[CountingModel, BatchPredictor]) -> None:
    model, batch = counting
    model.calls.clear()
    outcomes = batch.predict([1, -1, 4])
    assert isinstance(outcomes[1], Rejected) and "x must be >= 0" in outcomes[1].reason
    assert [o.value for o in outcomes if isinstance(o, Predicted)] == [1.0, 2.0]
    assert model.calls == [3, 1, 1, 1]  # the whole batch failed inside the graph, then each line alone


def test_well_formed_lines_are_decoded_at_once_and_run_in_one_call(
    counting: tuple[CountingModel, BatchPredictor],
) -> None:
    model, batch = counting
    model.calls.clear()
    prepared = batch.prepare([b"1", b"  ", b"4", b"", b" 9 "])
    assert prepared.inputs is not None and prepared.parsed is None  # the dense shortcut
    outcomes = batch.outcomes(prepared)
    assert outcomes == [Predicted(1.0, False), None, Predicted(2.0, False), None, Predicted(3.0, False)]
    assert model.calls == [3]


def test_one_bad_line_sends_its_batch_to_the_line_by_line_path(counting: tuple[CountingModel, BatchPredictor]) -> None:
    model, batch = counting
    model.calls.clear()
    prepared = batch.prepare([b"1", b'"a"', b"4", b"[1", b"9"])
    assert prepared.inputs is None
    outcomes = batch.outcomes(prepared)
    assert [type(o) for o in outcomes] == [Predicted, Rejected, Predicted, Rejected, Predicted]
    assert [o.value for o in outcomes if isinstance(o, Predicted)] == [1.0, 2.0, 3.0]
    assert "must hold numbers" in outcomes[1].reason and "line is not valid JSON" in outcomes[3].reason
    assert model.calls == [3]  # as without the shortcut: the codec caught the bad lines without a model call


def test_a_decoded_batch_the_model_rejects_is_narrowed_down(counting: tuple[CountingModel, BatchPredictor]) -> None:
    model, batch = counting
    model.calls.clear()
    outcomes = batch.outcomes(batch.prepare([b"1", b"-1", b"4"]))  # well-formed: decoded at once
    assert isinstance(outcomes[1], Rejected) and "x must be >= 0" in outcomes[1].reason
    assert [o.value for o in outcomes if isinstance(o, Predicted)] == [1.0, 2.0]
    assert model.calls == [3, 1, 1, 1]  # the batch once, then each line alone: no second whole-batch call

    model.calls.clear()
    outcomes = batch.outcomes(batch.prepare([b"[1]", b"[2]"]))  # consistent lines of a shape the signature refuses
    assert all(isinstance(o, Rejected) and "has shape [1,1]" in o.reason for o in outcomes), outcomes
    assert model.calls == []


def test_batches_are_prepared_ahead_in_order_and_errors_reach_the_caller() -> None:
    from app.batch.run import _ahead

    assert list(_ahead(iter(range(5)), lambda n: n * 2)) == [0, 2, 4, 6, 8]

    def fail_on_three(n: int) -> int:
        if n == 3:
            raise StorageError("reading x: gone")
        return n

    results = []
    with pytest.raises(StorageError, match="gone"):
        for n in _ahead(iter(range(5)), fail_on_three):
            results.append(n)
    assert results == [0, 1, 2]


# ---- settings ------------------------------------------------------------------------------------------------


def test_settings_come_from_flags_cloud_run_and_the_server_settings() -> None:
    environ = {"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "5", "CLOUD_RUN_TASK_ATTEMPT": "1"}
    settings = BatchSettings.from_args(
        ["--input", "gs://b/in/*.jsonl", "--output", "gs://b/out/run-1/"], {**environ, "MODEL_URI": "gs://b/m"}
    )
    assert (settings.task_index, settings.task_count, settings.task_attempt) == (2, 5, 1)
    assert (settings.output, settings.errors) == ("gs://b/out/run-1", "gs://b/out/run-1/errors")
    assert (settings.model_uri, settings.server.model_name, settings.batch_size) == ("gs://b/m", "m", 256)
    assert settings.server.max_batch_size == 0  # the job batches itself: no request batcher thread
    flag = BatchSettings.from_args(["--input", "x", "--output", "y", "--model-uri", "gs://b/other"], environ)
    assert flag.model_uri == "gs://b/other"


@pytest.mark.parametrize(
    ("argv", "environ", "error"),
    [
        ([], {"CLOUD_RUN_TASK_INDEX": "3", "CLOUD_RUN_TASK_COUNT": "3"}, "CLOUD_RUN_TASK_INDEX=3 must be less than"),
        ([], {"CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_COUNT=0 is out of range"),
        ([], {"CLOUD_RUN_TASK_ATTEMPT": "one"}, "CLOUD_RUN_TASK_ATTEMPT='one' is not an integer"),
        (["--errors-prefix", "gs://b/out"], {}, "must differ from --output"),
    ],
)
def test_bad_settings_name_the_variable_or_flag(argv: list[str], environ: dict[str, str], error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        BatchSettings.from_args(["--input", "gs://b/in/*.jsonl", "--output", "gs://b/out", *argv], environ)
