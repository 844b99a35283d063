"""What every demo-model export shares: seeding, the trained-model record, and the atomic save.

A SavedModel is written to a temporary directory beside ``<output>/<version>`` and renamed into place, so a
model server polling ``<output>`` never sees a half-written version. Beside it, in ``assets.extra/``, go TF
Serving's warm-up records and ``feature_baseline.json``, the training-data baseline for drift monitoring:

    {"format_version": 1, "signature_name": "serving_default", "seed": 0,
     "features": {"<feature>": {"input": "<input name>", "statistic": "value" | "mean",
                                "n": <sample size>, "training_rows": <values sampled from>,
                                "sample": [<at most 2,000 training values, sorted, seeded draw>]}}}

One feature per numeric input: ``value`` (named like the input) for ``[batch]`` inputs, the values themselves;
``mean`` (named ``<input>:mean``) for higher-rank inputs, the mean of each example, e.g. an image's mean pixel
intensity. ``app.drift_baseline`` writes and reads it; the server compares live inputs with it (``app.drift``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from app.drift_baseline import Baseline, write_baseline
from app.warmup import WarmupRequest, write_warmup_requests

logger = logging.getLogger(__name__)

SEED = 0
SIGNATURE = "serving_default"


class ExportExistsError(FileExistsError):
    """The target version directory already exists and ``force`` was not given."""


@dataclass
class TrainedModel:
    """A trained model ready to save: ``module.serve`` is the serving signature (a ``tf.function``).

    ``baseline`` (from ``app.drift_baseline.build_baseline`` on the training inputs) is saved for drift monitoring.
    """

    name: str
    module: tf.Module
    metrics: dict[str, float]
    warmup: list[WarmupRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline: Baseline | None = None


@contextlib.contextmanager
def deterministic(seed: int = SEED) -> Iterator[None]:
    """Seed Python, NumPy, TensorFlow and Keras and make TF ops deterministic for the duration."""
    keras.utils.set_random_seed(seed)
    # Op determinism is process-wide; restore it so importing code (tests, a server) is unaffected.
    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def version_dir(output: Path, version: int, force: bool = False) -> Path:
    """Return ``output/version``; raise ``ExportExistsError`` if it exists and ``force`` is false."""
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    target = Path(output) / str(version)
    if target.exists() and not force:
        raise ExportExistsError(f"{target} already exists; pass --force to replace it")
    return target


def train_and_save(
    train: Callable[[int, int | None, int], TrainedModel],
    output: Path,
    version: int,
    epochs: int,
    samples: int | None,
    *,
    force: bool = False,
    verbose: int = 0,
) -> Path:
    """Check the target first (fail before training, not after), train, then save as ``output/version``."""
    version_dir(output, version, force)
    return save(train(epochs, samples, verbose), output, version, force)


def save(trained: TrainedModel, output: Path, version: int, force: bool = False) -> Path:
    """Save ``trained`` (SavedModel, warm-up file, feature baseline) atomically as ``output/version``; return it."""
    target = version_dir(output, version, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Non-numeric names: TF Serving and our server ignore them while they are being written.
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it owner-only; a server running as another user must read it
    try:
        tf.saved_model.save(trained.module, str(staging), signatures={SIGNATURE: trained.module.serve})
        if trained.warmup:
            write_warmup_requests(staging, trained.warmup, model_name=trained.name)
        if trained.baseline is not None:
            write_baseline(staging, trained.baseline)
        _replace(staging, target, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Exported %s to %s", trained.name, target)
    return target


def _replace(staging: Path, target: Path, force: bool) -> None:
    """Rename ``staging`` to ``target``; with ``force`` an existing target is moved aside, then removed."""
    old = None
    if target.exists():
        if not force:
            raise ExportExistsError(f"{target} appeared during the export; pass --force to replace it")
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
