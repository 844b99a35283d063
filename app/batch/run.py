"""One task of a batch prediction job: list the inputs, skip if already done, load the model, predict, publish."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from app.batch.io import backend_for
from app.batch.parts import Parts, PartWriter, completed, fingerprint, write_marker
from app.batch.predict import BatchPredictor, Outcome, Prepared, Rejected
from app.batch.progress import Progress
from app.batch.settings import BatchSettings
from app.batch.shard import InputFile, Line, owned_lines, plan
from app.codecs import jsonio
from app.errors import InvalidInput, ModelLoadError, NotFound, StorageError
from app.prediction_log import PredictionLog
from app.settings import Settings, SettingsError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m app.batch``: 0 when the shard is done (bad lines included), 1 on a fatal error."""
    from app.logs import setup_logging

    # TensorFlow's C++ runtime logs to stderr, outside our structured logs; keep it to errors.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = BatchSettings.from_args(argv)
    except SettingsError as exc:
        setup_logging(Settings())
        log.error("invalid configuration: %s", exc)
        return 2
    setup_logging(settings.server)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    task = f"{settings.task_index}/{settings.task_count}"
    try:
        run_task(settings)
    except ModelLoadError as exc:  # the model, the inputs or the outputs: one clear line, no traceback
        log.error("batch task %s failed: %s", task, exc)
        return 1
    except Exception:  # a bug: the traceback goes to the structured log rather than to bare stderr
        log.exception("batch task %s failed with an unexpected error", task)
        return 1
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Cloud Run sends SIGTERM on a task timeout or a cancelled execution. Exiting through SystemExit runs the
    # writers' cleanup (spool files removed); nothing incomplete was published, and a retry redoes the shard.
    log.warning("SIGTERM: stopping before this shard is complete; a retry will redo it")
    raise SystemExit(128 + signum)


def run_task(settings: BatchSettings) -> dict[str, Any]:
    """Predict every line of this task's shard, publish its files, and return the summary written in the marker."""
    task = f"{settings.task_index}/{settings.task_count}"
    files = _list_inputs(settings)
    parts = Parts.of(settings)
    run_fingerprint = fingerprint(files, settings)
    done = completed(parts, run_fingerprint)
    if done is not None:
        log.info(
            "batch task %s skipped: %s is already complete (%d lines, %d errors)",
            task,
            parts.output,
            done["lines"],
            done["errors"],
            extra={"json_fields": {"task": task, "skipped": True, "output": parts.output}},
        )
        return done
    slices = plan(files, settings.task_index, settings.task_count)
    log.info(
        "batch task %s (attempt %d): %d of %d input bytes, in %d of %d files",
        task,
        settings.task_attempt,
        sum(s.end - s.start for s in slices),
        sum(f.size for f in files),
        len(slices),
        len(files),
    )
    model, load_seconds = _load(settings)
    progress = Progress(task, settings.progress_seconds)
    with PartWriter(parts.output) as output, PartWriter(parts.errors) as errors:
        lines = owned_lines(slices, lambda file: backend_for(file.uri).read(file))
        # Reading, parsing and decoding the next batch (Python, holding the GIL) overlaps the model call on this
        # one (TensorFlow, which releases it).
        for batch, prepared in _ahead(_batches(lines, settings.batch_size), lambda b: _prepare(b, model)):
            outcomes = model.outcomes(prepared)
            _write(batch, outcomes, output, errors, progress)
            if model.prediction_log is not None:  # a line's request id: stable across retries and re-runs
                model.log_sampled([f"{line.uri}#{line.number}" for line in batch], outcomes)
        errors_bytes = errors.publish()  # first: a published part file implies its error file is complete
        output_bytes = output.publish()
    summary = {
        **progress.fields(),
        "fingerprint": run_fingerprint,
        "task_index": settings.task_index,
        "task_count": settings.task_count,
        "attempt": settings.task_attempt,
        "output": parts.output,
        "output_bytes": output_bytes,
        "errors_file": parts.errors,
        "errors_bytes": errors_bytes,
        "model_uri": model.predictor.source_uri,
        "model_version": model.predictor.version,
        "signature": model.signature.name,
        "load_seconds": round(load_seconds, 3),
    }
    write_marker(parts, summary)
    log.info(
        "batch task %s finished: %d lines (%d predicted, %d errors, %d blank) in %.1fs, %.0f lines/s; model load %.1fs",
        task,
        progress.lines,
        progress.predicted,
        progress.errors,
        progress.blank,
        progress.seconds,
        progress.rate(),
        load_seconds,
        extra={"json_fields": summary},
    )
    return summary


def _list_inputs(settings: BatchSettings) -> list[InputFile]:
    files = backend_for(settings.input).list_inputs(settings.input)
    # A pattern such as gs://b/data/** would also match this job's own outputs on a re-run.
    ours = (f"{settings.output}/", f"{settings.errors}/")
    inputs = [f for f in files if not f.uri.startswith(ours)]
    if len(inputs) < len(files):
        log.warning("ignoring %d files under the output prefix that match --input", len(files) - len(inputs))
    if not inputs:
        raise StorageError(f"every file matching {settings.input} is an output of this job")
    return inputs


def _load(settings: BatchSettings) -> tuple[BatchPredictor, float]:
    from app.batching import is_batchable
    from app.startup import load_predictor

    started = time.perf_counter()
    predictor = load_predictor(settings.server)
    try:
        signature = predictor.signature(settings.signature)
    except (NotFound, InvalidInput) as exc:
        raise ModelLoadError(exc.message) from None
    if not is_batchable(signature):
        raise ModelLoadError(
            f"signature {signature.name!r} cannot be batched: every input and output needs a leading batch "
            "dimension of unknown size"
        )
    logged = settings.server.prediction_log
    prediction_log = PredictionLog(logged) if logged.sample > 0 else None
    model = BatchPredictor(predictor, signature.name, settings.server, settings.batch_size, prediction_log)
    return model, time.perf_counter() - started


def _batches(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _prepare(batch: list[Line], model: BatchPredictor) -> tuple[list[Line], Prepared]:
    return batch, model.prepare([line.data for line in batch])


def _ahead(items: Iterator[T], work: Callable[[T], R]) -> Iterator[R]:
    """``work(item)`` for each of ``items``, each computed in a worker thread while the caller uses the previous one.

    ``items`` is consumed in the worker only. An exception in either is raised here; leaving early waits for the
    one item in progress.
    """
    done = object()

    def step() -> Any:
        item = next(items, done)
        return done if item is done else work(cast(T, item))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-prepare") as worker:
        pending = worker.submit(step)
        while (result := pending.result()) is not done:
            pending = worker.submit(step)
            yield result


def _write(
    batch: list[Line], outcomes: list[Outcome | None], output: PartWriter, errors: PartWriter, progress: Progress
) -> None:
    predicted = failed = blank = 0
    for line, outcome in zip(batch, outcomes, strict=True):
        if outcome is None:
            blank += 1
        elif isinstance(outcome, Rejected):
            errors.write(jsonio.dumps({"file": line.uri, "line": line.number, "error": outcome.reason}))
            failed += 1
        else:
            record = {"file": line.uri, "line": line.number, "prediction": outcome.value}
            output.write(jsonio.dumps(record, outcome.nonfinite))
            predicted += 1
    progress.add(predicted, failed, blank)
