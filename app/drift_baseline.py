"""The training-data baseline that drift monitoring compares live traffic against. numpy only.

``model_export`` writes it as ``<version>/assets.extra/feature_baseline.json``; ``app.drift`` reads it. Format
(version 1; the sample is sorted ascending, values are JSON numbers with float32 precision)::

    {
      "format_version": 1,
      "signature_name": "serving_default",       # the signature whose inputs are monitored
      "seed": 0,                                 # seed of the sub-sampling
      "features": {
        "temperature": {"input": "temperature", "statistic": "value", "n": 2000, "training_rows": 8000,
                        "sample": [31.27, 33.9, ...]},
        "image:mean":  {"input": "image", "statistic": "mean", "n": 1437, "training_rows": 1437,
                        "sample": [0.121, ...]}
      }
    }

One feature per numeric input. ``statistic`` says what one monitored value is:

- ``value`` — the input's own values (inputs of shape ``[batch]``); the feature is named after the input.
- ``mean`` — the mean over each example's elements, e.g. the mean pixel intensity of an image (inputs of rank
  2 or more); the feature is named ``<input>:mean``.

``sample`` holds at most ``MAX_SAMPLE`` of the training values, drawn without replacement with ``seed``; ``n`` is
its length (the baseline size in the KS test) and ``training_rows`` the number of training values it came from.
``summarise`` turns a batch into values, the same function at export and at serving time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINE_FILE = Path("assets.extra") / "feature_baseline.json"
FORMAT_VERSION = 1
MAX_SAMPLE = 2000
STATISTICS = ("value", "mean")


class BaselineError(ValueError):
    """The baseline file exists but cannot be used."""


@dataclass(frozen=True)
class FeatureBaseline:
    """One monitored feature: which input, which statistic, and a sorted sample of its training values."""

    name: str
    input: str
    statistic: str
    sample: np.ndarray  # float64, sorted ascending
    training_rows: int

    @property
    def n(self) -> int:
        return len(self.sample)


@dataclass(frozen=True)
class Baseline:
    """Every monitored feature of one signature."""

    signature_name: str
    features: dict[str, FeatureBaseline]
    seed: int = 0


def summarise(statistic: str, batch: np.ndarray) -> np.ndarray:
    """The monitored values (1-D float64) of one input ``batch`` whose first axis is the example."""
    values = np.asarray(batch)
    if statistic == "mean" and values.ndim > 1 and len(values):
        return values.reshape(len(values), -1).mean(axis=1, dtype=np.float64)
    return values.reshape(-1).astype(np.float64, copy=False)


def build_baseline(
    inputs: Mapping[str, np.ndarray], signature_name: str, max_sample: int = MAX_SAMPLE, seed: int = 0
) -> Baseline:
    """A baseline from training ``inputs`` (input name -> batch): ``value`` for [batch] inputs, else ``mean``."""
    rng = np.random.default_rng(seed)
    features = {}
    for input_name, batch in inputs.items():
        batch = np.asarray(batch)
        if batch.dtype.kind not in "biuf":  # strings and other non-numeric inputs are not monitored
            continue
        statistic = "value" if batch.ndim == 1 else "mean"
        values = summarise(statistic, batch)
        values = values[np.isfinite(values)]
        if len(values) > max_sample:
            values = rng.choice(values, max_sample, replace=False)
        name = input_name if statistic == "value" else f"{input_name}:{statistic}"
        features[name] = FeatureBaseline(name, input_name, statistic, np.sort(values), len(batch))
    return Baseline(signature_name, features, seed)


def write_baseline(saved_model_dir: Path, baseline: Baseline) -> Path:
    """Write ``baseline`` to ``saved_model_dir/assets.extra/feature_baseline.json``; return the file."""
    document = {
        "format_version": FORMAT_VERSION,
        "signature_name": baseline.signature_name,
        "seed": baseline.seed,
        "features": {
            f.name: {
                "input": f.input,
                "statistic": f.statistic,
                "n": f.n,
                "training_rows": f.training_rows,
                # float32 precision (7 significant digits) keeps the file small; the inputs are float32 anyway
                "sample": [float(f"{v:.7g}") for v in f.sample],
            }
            for f in baseline.features.values()
        },
    }
    path = Path(saved_model_dir) / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, separators=(",", ":")))
    return path


def read_baseline(saved_model_dir: Path) -> Baseline | None:
    """The baseline stored with a SavedModel, or None when it has none; BaselineError if it is malformed."""
    path = Path(saved_model_dir) / BASELINE_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{BASELINE_FILE} is unreadable: {exc}") from exc
    try:
        return _parse(document)
    except BaselineError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"{BASELINE_FILE} is malformed: {exc!r}") from exc


def _parse(document: dict) -> Baseline:
    if document["format_version"] != FORMAT_VERSION:
        raise BaselineError(f"{BASELINE_FILE} has format_version {document['format_version']!r}, not {FORMAT_VERSION}")
    features = {name: _feature(name, spec) for name, spec in document["features"].items()}
    return Baseline(str(document["signature_name"]), features, int(document.get("seed", 0)))


def _feature(name: str, spec: Mapping) -> FeatureBaseline:
    sample = np.sort(np.asarray(spec["sample"], dtype=np.float64))
    if spec["statistic"] not in STATISTICS:
        raise BaselineError(f"{BASELINE_FILE}: feature {name!r} has an unknown statistic {spec['statistic']!r}")
    if sample.ndim != 1 or not len(sample) or not np.isfinite(sample).all():
        raise BaselineError(f"{BASELINE_FILE}: feature {name!r}: the sample must be a non-empty list of finite numbers")
    return FeatureBaseline(name, str(spec["input"]), spec["statistic"], sample, int(spec.get("training_rows", 0)))
