"""Cold start: fetch the served versions while TensorFlow imports, load and warm up each, then mark them ready.

Each phase is timed and reported in one startup log line (plus one line per version when several are served). Any
failure raises ModelLoadError with one clear message; ``app.server`` turns that into a non-zero exit.
"""

from __future__ import annotations

import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.drift import DriftMonitor
from app.errors import ModelLoadError
from app.predictor import Predictor
from app.settings import DEMO_MODEL_COMMAND, DEMO_MODEL_DIR, Settings
from app.versions import ServedModel, VersionPolicy, check_labels

if TYPE_CHECKING:
    from app.storage import ResolvedModel

log = logging.getLogger(__name__)


def load_served(settings: Settings) -> ServedModel:
    """Download (if gs://), load, introspect and warm up every version ``settings`` serves; return them all ready."""
    from app.storage import fetch_models

    started = time.perf_counter()
    if settings.model_uri == str(DEMO_MODEL_DIR) and not DEMO_MODEL_DIR.exists():
        raise ModelLoadError(
            f"MODEL_URI is not set and the bundled demo model is missing at {DEMO_MODEL_DIR}; "
            f"create it with `{DEMO_MODEL_COMMAND}` (or `make demo-model`), or set MODEL_URI"
        )
    phases: dict[str, float] = {}
    if settings.require_gpu:
        # Before the download starts: a GPU service without a GPU must fail in seconds, not after fetching the model.
        from app.devices import check_gpu

        mark = time.perf_counter()
        import tensorflow as tf

        check_gpu(tf, required=True)
        phases["gpu_check_s"] = time.perf_counter() - mark
    # The download is network-bound and TensorFlow's import is CPU-bound: overlap them.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as pool:
        fetch = pool.submit(
            _timed,
            fetch_models,
            settings.model_uri,
            settings.cache_dir,
            settings.version_policy,
            max_workers=settings.download_workers,
            retries=settings.download_retries,
        )
        mark = time.perf_counter()
        import tensorflow as tf  # (the import itself is the phase being timed)

        phases["import_s"] = time.perf_counter() - mark
        _size_thread_pools(tf, settings.tf_thread_count)
        resolved, phases["download_s"] = fetch.result()
    labels = dict(settings.version_labels)
    check_labels(settings.model_name, labels, [r.version for r in resolved])  # before the slow part

    loaded = [_load_version(settings, r) for r in resolved]
    # The loaded graphs are large, long-lived object trees: move them out of the collector's view so full
    # collections (and the latency spikes they cause under load) do not walk them again and again.
    gc.collect()
    gc.freeze()
    served = ServedModel((v.predictor for v in loaded), labels)
    from app.devices import describe_devices

    devices = describe_devices(tf)
    phases["load_s"] = sum(v.load_s for v in loaded)
    phases["warmup_s"] = sum(v.warmup_s for v in loaded)
    phases["total_s"] = time.perf_counter() - started
    _record_metrics(served, phases, devices)
    served.mark_ready()
    if len(loaded) > 1:
        for version in loaded:
            _log_version(settings, version)
    _log_summary(settings, served, loaded, phases, devices)
    return served


def load_predictor(settings: Settings) -> Predictor:
    """Load only the version a request without version would get (the highest the policy selects), for callers
    that use one version, such as the batch job: the other versions are not fetched or loaded, and labels do not
    apply."""
    policy = settings.version_policy
    only = VersionPolicy("specific", versions=(max(policy.versions),)) if policy.kind == "specific" else VersionPolicy()
    return load_served(replace(settings, version_policy=only, version_labels=())).default


@dataclass(frozen=True)
class _Loaded:
    predictor: Predictor
    warmup_calls: int
    load_s: float
    warmup_s: float


def _load_version(settings: Settings, resolved: ResolvedModel) -> _Loaded:
    """Load one version, warm it up, then attach its drift monitor and batchers (not yet ready)."""
    from app.model import Model

    mark = time.perf_counter()
    model = Model.load(resolved.path)
    load_s = time.perf_counter() - mark
    predictor = Predictor(model, settings.model_name, resolved.version, resolved.source_uri)

    mark = time.perf_counter()
    calls = predictor.warm_up(_warmup_records(resolved.path)) if settings.warmup else 0
    warmup_s = time.perf_counter() - mark
    predictor.drift = DriftMonitor.from_saved_model(resolved.path, settings.drift)  # after warm-up: not observed
    predictor.enable_batching(settings.batching)
    return _Loaded(predictor, calls, load_s, warmup_s)


def _log_version(settings: Settings, loaded: _Loaded) -> None:
    predictor = loaded.predictor
    log.info(
        "model %s version %s loaded in %.2fs (load %.2fs, warm-up %.2fs)",
        settings.model_name,
        predictor.version,
        loaded.load_s + loaded.warmup_s,
        loaded.load_s,
        loaded.warmup_s,
        extra={
            "json_fields": {
                **_describe(predictor, loaded.warmup_calls),
                "phases_s": {"load_s": round(loaded.load_s, 3), "warmup_s": round(loaded.warmup_s, 3)},
            }
        },
    )


def _log_summary(
    settings: Settings, served: ServedModel, loaded: list[_Loaded], phases: dict[str, float], devices: list[str]
) -> None:
    """One line for the whole start; it also describes the default version (with one version: as it always has)."""
    log.info(
        "model %s %s %s ready on %s in %.2fs (import %.2fs, download %.2fs, load %.2fs, warm-up %.2fs)",
        settings.model_name,
        "versions" if len(served) > 1 else "version",
        ", ".join(map(str, served.versions)),
        ", ".join(devices),
        phases["total_s"],
        phases["import_s"],
        phases["download_s"],
        phases["load_s"],
        phases["warmup_s"],
        extra={
            "json_fields": {
                **_describe(served.default, sum(v.warmup_calls for v in loaded)),
                "model_versions": [str(v) for v in served.versions],
                "version_policy": str(settings.version_policy),
                "version_labels": {label: str(v) for label, v in served.labels.items()},
                "phases_s": {k: round(v, 3) for k, v in phases.items()},
                "devices": devices,
            }
        },
    )


def _describe(predictor: Predictor, warmup_calls: int) -> dict[str, Any]:
    return {
        "model_name": predictor.name,
        "model_version": str(predictor.version),
        "model_uri": predictor.source_uri,
        "signatures": sorted(predictor.signatures),
        "warmup_calls": warmup_calls,
        "batched_signatures": sorted(predictor.batchers),
    }


def _size_thread_pools(tf: Any, threads: int) -> None:
    """TensorFlow's pools default to every core *per process*; with one worker per CPU that oversubscribes."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime is already initialised in this process (a second app in tests)
        log.debug("TensorFlow's thread pools were already sized; keeping them")


def _record_metrics(served: ServedModel, phases: dict[str, float], devices: list[str]) -> None:
    import tensorflow as tf

    from app import __version__, metrics

    for phase, seconds in phases.items():
        metrics.LOAD_SECONDS.labels(phase.removesuffix("_s")).set(seconds)
    for predictor in served:
        metrics.BUILD_INFO.labels(__version__, predictor.name, str(predictor.version), tf.__version__).set(1)
    for device in devices:
        metrics.DEVICE_INFO.labels(device).set(1)


def _timed(fn, *args, **kwargs):
    mark = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - mark


def _warmup_records(path: Path):
    from app.warmup import read_warmup_requests

    return [(r.signature_name, r.inputs) for r in read_warmup_requests(path)]
