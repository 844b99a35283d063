"""``python -m benchmarks [--quick] [--duration 10s] [--servers ours,mlserver] ...``: measure, then write the report.

Measures our server, baseline (a) (the seeds' Keras ``model.predict`` pattern), baseline (b) (Flask calling the
SavedModel signature) and the peers MLServer and BentoML (each with its own adaptive batching, from its own venv:
``make peer-venvs``; a peer whose venv is missing is skipped, and the output and report say so) on the same demo
MNIST model with wrk at several concurrencies, then the cold starts, and
writes ``docs/benchmarks.md`` and ``docs/benchmarks.png`` (a ``--quick`` smoke run writes to ``build/benchmarks/quick``
instead, so it never replaces a real run). Run from the repository root with the project's venv.

Exit codes: 0 everything was measured (whether or not the targets were met: see the report), 1 a server or a
cold-start scenario failed (the report says which), 2 bad usage or missing dependencies, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import signal
import sys
from pathlib import Path

from benchmarks.servers import ROOT, SERVER_KEYS

REQUIRED = {
    "matplotlib": "requirements-bench.txt",
    "tensorflow": "requirements.txt",
    "flask": "requirements.txt",
    "gunicorn": "requirements.txt",
    "gcp_storage_emulator": "requirements-dev.txt",
    "sklearn": "requirements-dev.txt",
}


def seconds(text: str) -> float:
    """Parse a duration like ``10s``, ``1.5s``, ``2m`` or ``10`` (seconds)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 10s or 2m, got {text!r}")
    value = float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match[2]]
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return value


def concurrency_list(text: str) -> tuple[int, ...]:
    """Parse ``1,8,32,64``."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1 or max(values) > 1024:
        raise argparse.ArgumentTypeError("concurrencies must be between 1 and 1024")
    return tuple(sorted(set(values)))


def server_list(text: str) -> tuple[str, ...]:
    """Parse ``ours,simple,mlserver`` (names from ``SERVER_KEYS``) into those names, in the harness's order."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(SERVER_KEYS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(SERVER_KEYS)}, got {text!r}")
    return tuple(key for key in SERVER_KEYS if key in names)


def env_assignments(text: str) -> dict[str, str]:
    """Parse ``WORKERS=2,THREADS=16`` into a dict."""
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if not pairs or any(len(p) != 2 or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", p[0]) for p in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE[,NAME=VALUE...], got {text!r}")
    return dict(pairs)  # type: ignore[arg-type]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 2 s runs, 1 s warm-ups, 1 round, 1 cold start each"
    )
    parser.add_argument("--duration", type=seconds, default=None, help="measured run length (default 10s; quick 2s)")
    parser.add_argument("--warmup", type=seconds, default=None, help="warm-up run before each (default 2s; quick 1s)")
    parser.add_argument("--timeout", type=seconds, default=seconds("10s"), help="wrk request timeout (default 10s)")
    parser.add_argument(
        "--concurrency", type=concurrency_list, default=(1, 8, 32, 64), help="connections (default 1,8,32,64)"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="interleaved rounds; medians are reported (default 3; quick 1)"
    )
    parser.add_argument("--cold-runs", type=int, default=None, help="cold starts per scenario (default 3; quick 1)")
    parser.add_argument("--no-cold-start", action="store_true", help="skip the cold-start measurements")
    parser.add_argument(
        "--servers",
        type=server_list,
        default=SERVER_KEYS,
        metavar="NAME[,...]",
        help=f"measure only these (default all: {','.join(SERVER_KEYS)}; ours includes its --ours-env runs)",
    )
    parser.add_argument(
        "--ours-env",
        type=env_assignments,
        action="append",
        default=[],
        metavar="NAME=VALUE[,...]",
        help="also measure our server with these settings (repeatable), e.g. --ours-env WORKERS=2",
    )
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto", help="default: wrk, else Python"
    )
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "benchmarks", help="models, logs, raw JSON")
    parser.add_argument(
        "--out", type=Path, default=None, help="report dir (default docs/; with --quick build/benchmarks/quick)"
    )
    parser.add_argument("--rebuild", action="store_true", help="train and export the models again")
    args = parser.parse_args(argv)
    for name in ("cold_runs", "repeat"):
        value = getattr(args, name)
        if value is not None and not 1 <= value <= 20:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 20")
    return args


def missing_dependencies() -> list[str]:
    """Modules (and the requirements file providing each) that this interpreter cannot import."""
    missing = [f"{name} ({source})" for name, source in REQUIRED.items() if importlib.util.find_spec(name) is None]
    if not (Path(sys.executable).parent / "gcp-storage-emulator").exists():
        missing.append(f"the gcp-storage-emulator command next to {sys.executable} (requirements-dev.txt)")
    return missing


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, so all servers get stopped


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report; returns the exit code."""
    args = parse_args(argv)
    missing = missing_dependencies()
    if missing:
        print(
            "error: missing " + "; ".join(missing) + "\n"
            f"install them with: {sys.executable} -m pip install -r requirements-bench.txt",
            file=sys.stderr,
        )
        return 2

    from benchmarks import procs, report
    from benchmarks.run import Config, run

    quick = args.quick
    config = Config(
        command=shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        work_dir=args.work_dir.resolve(),
        out_dir=(args.out or (ROOT / "build" / "benchmarks" / "quick" if quick else ROOT / "docs")).resolve(),
        duration_s=args.duration or (2.0 if quick else 10.0),
        warmup_s=args.warmup or (1.0 if quick else 2.0),
        timeout_s=args.timeout,
        concurrencies=args.concurrency,
        cold_runs=args.cold_runs or (1 if quick else 3),
        repeat=args.repeat or (1 if quick else 3),
        ours_envs=tuple(args.ours_env),
        rebuild=args.rebuild,
        generator=args.load_generator,
        cold_start=not args.no_cold_start,
        quick=quick,
        servers=args.servers,
    )
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        results = run(config)
    except KeyboardInterrupt:
        print("interrupted: every server started has been stopped", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    path = report.write(results)
    print()
    print("\n".join(report.load_table(results)))
    print()
    for target in report.target_rows(results):
        print(f"{target.verdict:4s}  {target.name}: {target.measured} (bound {target.bound})")
    for label, reason in results.skipped.items():
        print(f"SKIPPED  {label}: {reason}")
    print(f"\nwrote {path} and {path.with_suffix('.png')} in {results.wall_s / 60:.1f} min")
    failed = any(s.failure for s in results.servers) or any(c.failure for c in results.cold)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
