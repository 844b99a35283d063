"""``python -m model_export {mnist,maintenance} --output DIR [--version N] [--epochs E] [--force] [--upload gs://…]``.

Trains a demo model, exports it as ``DIR/<version>/`` (TF Serving base-directory layout) and optionally
uploads that version to ``gs://bucket/prefix/<version>/``. Progress goes to stderr, results to stdout.
Exit codes: 0 success, 1 upload failed, 2 bad usage or the version already exists (without ``--force``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path

MODELS = ("mnist", "maintenance")


def _gcs_prefix(value: str) -> str:
    if not value.startswith("gs://") or len(value) <= len("gs://"):
        raise argparse.ArgumentTypeError(f"expected gs://bucket[/prefix], got {value!r}")
    return value.rstrip("/")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        prog="python -m model_export",
        description="Train a demo model and export it as DIR/<version>/, a TF Serving SavedModel version.",
        epilog="Exit codes: 0 success, 1 upload failed, 2 bad usage or DIR/<version> exists (no --force).",
    )
    parser.add_argument("model", choices=MODELS, help="which demo model to train and export")
    parser.add_argument("--output", type=Path, required=True, help="TF Serving base directory to export into")
    parser.add_argument("--version", type=int, default=1, help="version sub-directory (default: 1)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model's own)")
    parser.add_argument("--force", action="store_true", help="replace DIR/<version> if it already exists")
    parser.add_argument(
        "--upload",
        type=_gcs_prefix,
        metavar="gs://BUCKET/PREFIX",
        help="also upload the version directory to gs://BUCKET/PREFIX/<version>/",
    )
    args = parser.parse_args(argv)
    if args.version < 1:
        parser.error("--version must be a positive integer")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be a positive integer")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the export; return the process exit code."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide TensorFlow's C++ info chatter, keep warnings
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # Imported here: TensorFlow takes seconds to load, and --help should not.
    from model_export.common import ExportExistsError, save, version_dir

    exporter = importlib.import_module(f"model_export.{args.model}")
    try:
        version_dir(args.output, args.version, args.force)
    except ExportExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    epochs = args.epochs or exporter.DEFAULT_EPOCHS
    print(f"Training {args.model} for {epochs} epochs", file=sys.stderr, flush=True)
    with contextlib.redirect_stdout(sys.stderr):  # Keras writes its per-epoch lines to stdout
        trained = exporter.train(epochs=epochs, verbose=2)
    for metric, value in trained.metrics.items():
        print(f"held-out {metric}: {value:.4f}")
    for note in trained.notes:
        print(note)
    try:
        path = save(trained, args.output, args.version, args.force)
    except ExportExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported: {path}")
    if args.upload:
        from app.errors import StorageError
        from app.storage import upload_directory

        uri = f"{args.upload}/{args.version}/"
        try:
            count = upload_directory(path, uri)
        except StorageError as exc:
            print(f"error: upload failed: {exc}", file=sys.stderr)
            return 1
        print(f"uploaded {count} files to {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
