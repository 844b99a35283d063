"""The batch job against the raw model: ``python -m benchmarks.batchjob [--rows N] [--work-dir build/benchmarks]``.

What it measures, on the demo MNIST SavedModel that ``benchmarks.prepare`` builds (reused when present):

- **raw**: rows/s of the SavedModel's ``serving_default`` signature called directly on float32 numpy batches that
  were built before the clock starts, of the job's default batch size, one pass over all the rows (outputs fetched
  as numpy, as the job fetches them). It runs in a worker process (TensorFlow stays out of this one), which stays
  up between passes so that each pass is a warm loop;
- **job**: ``python -m app.batch`` as a user runs it (default flags, local input and output), one fresh process
  per run: wall clock from start to exit (interpreter start, TensorFlow import, model load and all), and the rate
  the job reports itself in its marker file (after the model load);
- the two alternate (raw, job, raw, job...) so that both see the same noise; medians over the repeats.

The input is ``rows`` JSON lines, each one of the held-out 28x28x1 digits of ``model_export.mnist`` in turn,
written as the harness's request body writes its digit (``json.dumps``). ``ratio`` = job rows/s / raw rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from app.batch.settings import DEFAULT_BATCH_SIZE
from benchmarks import procs, servers
from benchmarks.run import build_inputs

DEFAULT_ROWS = 20_000
DEFAULT_REPEATS = 3
JOB_TIMEOUT_S = 1200.0


def measure(work_dir: Path, rows: int, repeats: int = DEFAULT_REPEATS) -> dict[str, Any]:
    """Measure the job and the raw model on the same ``rows`` digits; return medians, every run, and the ratios."""
    work_dir = work_dir.resolve()
    manifest = build_inputs(work_dir, rebuild=False)
    saved_model = Path(manifest["saved_model"])
    bench_dir = work_dir / "batchjob"
    input_path = bench_dir / f"digits-{rows}.jsonl"
    env = servers.base_env()
    raw_runs: list[float] = []
    jobs: list[dict[str, float]] = []
    worker_command = [sys.executable, "-m", "benchmarks.batchjob", "--raw-worker", str(saved_model), str(input_path)]
    worker_command += ["--rows", str(rows)]
    bench_dir.mkdir(parents=True, exist_ok=True)
    with (bench_dir / "raw.log").open("wb") as worker_log:  # TensorFlow's chatter; the answers come on stdout
        worker = subprocess.Popen(
            worker_command,
            cwd=servers.ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=worker_log,
            text=True,
        )
    try:
        _expect(worker, "ready")  # the input file is written, the batches are built and the model is warm
        for run in range(repeats):
            assert worker.stdin is not None
            worker.stdin.write("pass\n")
            worker.stdin.flush()
            raw_runs.append(rows / float(_expect(worker, "seconds")))
            jobs.append(_run_job(input_path, saved_model.parent, bench_dir / f"run-{run}", env))
    finally:
        worker.kill()
        worker.wait()
    raw = statistics.median(raw_runs)
    own = statistics.median(j["own_rows_per_s"] for j in jobs)
    wall = statistics.median(j["wall_rows_per_s"] for j in jobs)
    return {
        "rows": rows,
        "batch_size": DEFAULT_BATCH_SIZE,
        "input_bytes": input_path.stat().st_size,
        "raw_rows_per_s": round(raw),
        "job_rows_per_s": round(own),
        "job_wall_rows_per_s": round(wall),
        "job_startup_s": round(statistics.median(j["startup_s"] for j in jobs), 2),
        "ratio": round(own / raw, 3),
        "ratio_wall": round(wall / raw, 3),
        "raw_runs": [round(r) for r in raw_runs],
        "job_runs": jobs,
        "load_average": os.getloadavg(),
    }


def _expect(worker: subprocess.Popen[str], key: str) -> str:
    """The value of the worker's next ``key value`` line; raises if it exits or says something else."""
    assert worker.stdout is not None
    line = worker.stdout.readline()
    name, _, value = line.strip().partition(" ")
    if name != key:
        raise RuntimeError(f"the raw-model worker said {line!r} instead of {key!r} (exit {worker.poll()})")
    return value


def _run_job(input_path: Path, model_uri: Path, output: Path, env: dict[str, str]) -> dict[str, float]:
    """One ``python -m app.batch`` process over the whole input, as a user runs it; its timings."""
    shutil.rmtree(output, ignore_errors=True)  # a finished output would make the job skip its work
    command = [sys.executable, "-m", "app.batch", "--input", str(input_path), "--output", str(output)]
    command += ["--model-uri", str(model_uri)]
    log_path = output.with_suffix(".log")
    started = time.perf_counter()
    with procs.running(command, {**env, "LOG_FORMAT": "json"}, servers.ROOT, log_path) as process:
        code = process.wait(JOB_TIMEOUT_S)
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"python -m app.batch exited {code}: see {log_path}")
    marker = json.loads((output / "part-00000-of-00001.done").read_text())
    shutil.rmtree(output)
    return {
        "wall_s": round(wall, 2),
        "startup_s": round(wall - marker["seconds"], 2),  # start, imports, model load and warm-up, publishing
        "load_s": marker["load_seconds"],
        "own_s": marker["seconds"],
        "own_rows_per_s": marker["lines_per_second"],
        "wall_rows_per_s": round(marker["lines"] / wall, 1),
    }


# ---- the raw-model worker (its own process: it imports TensorFlow) ------------------------------------------


def raw_worker(saved_model: Path, input_path: Path, rows: int, out: IO[str]) -> None:
    """Write the input if missing, build the batches, warm up; then one timed pass per ``pass`` line on stdin."""
    import numpy as np
    import tensorflow as tf

    from model_export import mnist

    _, _, digits, _ = mnist.load_data()
    if not input_path.exists():
        input_path.parent.mkdir(parents=True, exist_ok=True)
        partial = input_path.with_suffix(".tmp")
        with partial.open("w") as lines:
            for row in range(rows):
                lines.write(json.dumps(digits[row % len(digits)].tolist()) + "\n")
        partial.replace(input_path)
    images = np.stack([digits[row % len(digits)] for row in range(rows)])  # the values of the lines, exactly
    batches = [images[start : start + DEFAULT_BATCH_SIZE] for start in range(0, rows, DEFAULT_BATCH_SIZE)]
    signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]

    def one_pass() -> None:
        for batch in batches:
            outputs = signature(image=tf.convert_to_tensor(batch))
            [value.numpy() for value in outputs.values()]

    one_pass()  # warm-up, as the job's model load warms up
    print("ready", file=out, flush=True)
    for command in sys.stdin:
        if command.strip() != "pass":
            break
        started = time.perf_counter()
        one_pass()
        print(f"seconds {time.perf_counter() - started:.6f}", file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m benchmarks.batchjob [--rows N] [--work-dir DIR] [--repeats K]``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batchjob", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="input lines (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=Path("build/benchmarks"), help="models and inputs")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="job runs and raw passes, alternating")
    parser.add_argument("--raw-worker", nargs=2, type=Path, metavar=("SAVED_MODEL", "INPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_worker:
        answers, sys.stdout = sys.stdout, sys.stderr  # nothing but the answers may reach the harness's pipe
        raw_worker(*args.raw_worker, args.rows, answers)
        return 0
    result = measure(args.work_dir, args.rows, args.repeats)
    print(
        f"{result['rows']} rows, batches of {result['batch_size']}: raw {result['raw_rows_per_s']} rows/s, "
        f"job {result['job_rows_per_s']} rows/s after its model load ({result['ratio']:.0%} of raw), "
        f"{result['job_wall_rows_per_s']} rows/s wall clock ({result['ratio_wall']:.0%}; "
        f"start-up {result['job_startup_s']}s)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
