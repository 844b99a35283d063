"""Settings of one batch task: the command line, Cloud Run's task variables, and the server's own settings.

Cloud Run Jobs sets ``CLOUD_RUN_TASK_INDEX``, ``CLOUD_RUN_TASK_COUNT`` and ``CLOUD_RUN_TASK_ATTEMPT`` in every
task; they are read here and nowhere else. Everything the server already has a setting for (``MODEL_URI``,
``MODEL_CACHE_DIR``, ``LOG_FORMAT``, download retries, input limits...) comes from ``app.settings.Settings``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.settings import Settings, SettingsError, _int  # _int: the one integer-variable parser
from app.storage.uris import is_gcs_uri

DEFAULT_BATCH_SIZE = 256
MAX_BATCH_SIZE = 65_536
DEFAULT_PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class BatchSettings:
    """What one task of a batch job does. Build it with :meth:`from_args`."""

    input: str
    """--input: a JSON Lines file or a pattern (gs://bucket/in/*.jsonl, /data/**/*.jsonl)."""
    output: str
    """--output: the prefix (gs://bucket/out/run-1) or directory the task's part file is written under."""
    errors: str
    """--errors-prefix: where the task's error file goes. Default: OUTPUT/errors."""
    signature: str | None
    """--signature: the signature to call. Default: serving_default (or the model's only one)."""
    batch_size: int
    """--batch-size: lines per model call."""
    progress_seconds: float
    """--progress-seconds: seconds between progress log lines (0: after every batch)."""
    task_index: int
    """CLOUD_RUN_TASK_INDEX: this task's number, from 0. Default 0."""
    task_count: int
    """CLOUD_RUN_TASK_COUNT: how many tasks share the input. Default 1."""
    task_attempt: int
    """CLOUD_RUN_TASK_ATTEMPT: how many times this task was retried (for the logs). Default 0."""
    server: Settings
    """The server's settings; its model_uri is --model-uri when given, else MODEL_URI; its prediction_log.sample
    is --prediction-log-sample when given, else PREDICTION_LOG_SAMPLE."""

    @property
    def model_uri(self) -> str:
        return self.server.model_uri

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> BatchSettings:
        """Parse ``argv`` (default: ``sys.argv[1:]``) and ``environ`` (default: the process environment).

        A bad flag exits with argparse's usage message (status 2); a bad variable raises ``SettingsError``.
        """
        env = os.environ if environ is None else environ
        args = _parser().parse_args(argv)
        if args.model_uri:
            env = {**env, "MODEL_URI": args.model_uri}
        # No request batcher in a batch job: the job itself builds the batches.
        server = dataclasses.replace(Settings.from_env(env), max_batch_size=0)
        if args.prediction_log_sample is not None:
            logged = dataclasses.replace(server.prediction_log, sample=args.prediction_log_sample)
            server = dataclasses.replace(server, prediction_log=logged)
        count = _int(env, "CLOUD_RUN_TASK_COUNT", 1, 1, 100_000)
        index = _int(env, "CLOUD_RUN_TASK_INDEX", 0, 0, 100_000)
        if index >= count:
            raise SettingsError(f"CLOUD_RUN_TASK_INDEX={index} must be less than CLOUD_RUN_TASK_COUNT={count}")
        output = _prefix(args.output, "--output")
        errors = _prefix(args.errors_prefix, "--errors-prefix") if args.errors_prefix else f"{output}/errors"
        if errors == output:
            raise SettingsError(f"--errors-prefix={errors!r} must differ from --output: the files would have one name")
        return cls(
            input=args.input,
            output=output,
            errors=errors,
            signature=args.signature or None,
            batch_size=args.batch_size,
            progress_seconds=args.progress_seconds,
            task_index=index,
            task_count=count,
            task_attempt=_int(env, "CLOUD_RUN_TASK_ATTEMPT", 0, 0, 1_000_000),
            server=server,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.batch",
        description="Batch predictions over JSON Lines files, one shard per Cloud Run Jobs task.",
    )
    parser.add_argument("--input", required=True, help="JSON Lines file or pattern: gs://b/in/*.jsonl, data/*.jsonl")
    parser.add_argument("--output", required=True, help="output prefix (gs://b/out/run-1) or local directory")
    parser.add_argument("--model-uri", default="", help="model to load (default: the MODEL_URI setting)")
    parser.add_argument("--signature", default="", help="signature to call (default: serving_default)")
    parser.add_argument(
        "--batch-size", type=_bounded(1, MAX_BATCH_SIZE), default=DEFAULT_BATCH_SIZE, help="lines per model call"
    )
    parser.add_argument("--errors-prefix", default="", help="where error files go (default: OUTPUT/errors)")
    parser.add_argument(
        "--prediction-log-sample",
        type=_fraction,
        default=None,
        help="share of lines written as prediction entries on stdout, 0-1 (default: PREDICTION_LOG_SAMPLE, 0)",
    )
    parser.add_argument(
        "--progress-seconds",
        type=float,
        default=DEFAULT_PROGRESS_SECONDS,
        help="seconds between progress log lines (0: after every batch)",
    )
    return parser


def _bounded(low: int, high: int):
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range [{low}, {high}]")
        return value

    return parse


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also NaN
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1")
    return value


def _prefix(raw: str, flag: str) -> str:
    """An output location without a trailing slash; a gs:// one must name a bucket."""
    value = raw.strip().rstrip("/")
    if is_gcs_uri(value):
        if not value.removeprefix("gs://"):
            raise SettingsError(f"{flag}={raw!r} must name a bucket: gs://bucket/prefix")
        return value
    if not value:
        raise SettingsError(f"{flag}={raw!r} must be a gs://bucket/prefix or a directory")
    return os.path.abspath(os.path.expanduser(value))
