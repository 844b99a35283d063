"""Cold start: fetch the model while TensorFlow imports, load it, warm it up, then mark it ready.

Each phase is timed and reported in one startup log line. Any failure raises ModelLoadError with one clear
message; ``app.server`` turns that into a non-zero exit.
"""

from __future__ import annotations

import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.drift import DriftMonitor
from app.errors import ModelLoadError
from app.predictor import Predictor
from app.settings import DEMO_MODEL_COMMAND, DEMO_MODEL_DIR, Settings

log = logging.getLogger(__name__)


def load_predictor(settings: Settings) -> Predictor:
    """Download (if gs://), load, introspect and warm up the model named by ``settings``; return it ready."""
    from app.storage import fetch_model

    started = time.perf_counter()
    if settings.model_uri == str(DEMO_MODEL_DIR) and not DEMO_MODEL_DIR.exists():
        raise ModelLoadError(
            f"MODEL_URI is not set and the bundled demo model is missing at {DEMO_MODEL_DIR}; "
            f"create it with `{DEMO_MODEL_COMMAND}` (or `make demo-model`), or set MODEL_URI"
        )
    phases: dict[str, float] = {}
    # The download is network-bound and TensorFlow's import is CPU-bound: overlap them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as pool:
        fetch = pool.submit(
            _timed,
            fetch_model,
            settings.model_uri,
            settings.cache_dir,
            max_workers=settings.download_workers,
            retries=settings.download_retries,
        )
        mark = time.perf_counter()
        import tensorflow as tf  # (the import itself is the phase being timed)

        phases["import_s"] = time.perf_counter() - mark
        _size_thread_pools(tf, settings.tf_thread_count)
        resolved, phases["download_s"] = fetch.result()

    from app.model import Model

    mark = time.perf_counter()
    model = Model.load(resolved.path)
    phases["load_s"] = time.perf_counter() - mark
    predictor = Predictor(model, settings.model_name, resolved.version, resolved.source_uri)

    mark = time.perf_counter()
    calls = predictor.warm_up(_warmup_records(resolved.path)) if settings.warmup else 0
    phases["warmup_s"] = time.perf_counter() - mark
    predictor.drift = DriftMonitor.from_saved_model(resolved.path, settings.drift)  # after warm-up: not observed
    predictor.enable_batching(settings.batching)
    # The loaded graph is a large, long-lived object tree: move it out of the collector's view so full
    # collections (and the latency spikes they cause under load) do not walk it again and again.
    gc.collect()
    gc.freeze()
    phases["total_s"] = time.perf_counter() - started
    _record_metrics(predictor, phases)
    predictor.mark_ready()
    log.info(
        "model %s version %s ready in %.2fs (import %.2fs, download %.2fs, load %.2fs, warm-up %.2fs)",
        settings.model_name,
        resolved.version,
        phases["total_s"],
        phases["import_s"],
        phases["download_s"],
        phases["load_s"],
        phases["warmup_s"],
        extra={
            "json_fields": {
                "model_name": settings.model_name,
                "model_version": str(resolved.version),
                "model_uri": resolved.source_uri,
                "signatures": sorted(predictor.signatures),
                "warmup_calls": calls,
                "batched_signatures": sorted(predictor.batchers),
                "phases_s": {k: round(v, 3) for k, v in phases.items()},
            }
        },
    )
    return predictor


def _size_thread_pools(tf: Any, threads: int) -> None:
    """TensorFlow's pools default to every core *per process*; with one worker per CPU that oversubscribes."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime is already initialised in this process (a second app in tests)
        log.debug("TensorFlow's thread pools were already sized; keeping them")


def _record_metrics(predictor: Predictor, phases: dict[str, float]) -> None:
    import tensorflow as tf

    from app import __version__, metrics

    for phase, seconds in phases.items():
        metrics.LOAD_SECONDS.labels(phase.removesuffix("_s")).set(seconds)
    metrics.BUILD_INFO.labels(__version__, predictor.name, str(predictor.version), tf.__version__).set(1)


def _timed(fn, *args, **kwargs):
    mark = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - mark


def _warmup_records(path: Path):
    from app.warmup import read_warmup_requests

    return [(r.signature_name, r.inputs) for r in read_warmup_requests(path)]
