"""Load-test every server, interleaved, so the machine's noise falls on all of them alike.

All servers are started first (one after another, each waiting for its first prediction) and run side by side;
idle, they use no CPU. Then, for each round and each concurrency, each server in turn gets a warm-up run and a
measured run (the server order rotates between rounds). A result per server and concurrency is the median over
rounds (``load.median_of``). A server that fails is recorded and skipped from then on; the others go on. Each
server gets the benchmark image in its own protocol's body (``protocols.body_file``) at its own path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import load, load_python, procs, protocols, servers
from benchmarks.load import LoadResult
from benchmarks.servers import RunningServer, ServerFailed, ServerSpec

if TYPE_CHECKING:
    from benchmarks.run import Config, ServerRun

DRAIN_TIMEOUT_S = 120.0


def measure_once(
    wrk: str | None, server: RunningServer, body_path: Path, concurrency: int, seconds: float, timeout_s: float
) -> LoadResult:
    """One load run with wrk (or the Python fallback)."""
    if wrk:
        return load.run_wrk(wrk, f"{server.url}{server.spec.path}", body_path, concurrency, seconds, timeout_s)
    return load_python.run_threads(server.port, server.spec.path, body_path, concurrency, seconds, timeout_s)


def drain(server: RunningServer, body: bytes) -> None:
    """Wait until requests abandoned by the last run are answered: one prediction must get through."""
    if server.process.poll() is not None:
        raise ServerFailed(f"{server.spec.label} exited with {server.process.returncode}")
    status, _ = servers.post_predict(server.port, body, timeout=DRAIN_TIMEOUT_S, path=server.spec.path)
    if status != 200:
        raise ServerFailed(f"{server.spec.label} answered {status} to a single prediction after the run")


def warm_then_measure(
    config: Config, server: RunningServer, body_path: Path, concurrency: int, wrk: str | None
) -> LoadResult:
    """A discarded warm-up run, then the measured run with the server's RSS sampled; drained before and after."""
    body = body_path.read_bytes()
    measure_once(wrk, server, body_path, concurrency, config.warmup_s, config.timeout_s)
    drain(server, body)
    with procs.RssSampler(server.process.pid) as rss:
        result = measure_once(wrk, server, body_path, concurrency, config.duration_s, config.timeout_s)
    result.peak_rss_bytes = rss.peak_bytes
    drain(server, body)
    return result


def load_test(
    config: Config,
    runs: list[ServerRun],
    body_path: Path,
    wrk: str | None,
    log: Callable[[str], None],
) -> None:
    """Fill in each ``ServerRun`` (start time, digit, raw runs, medians); every server is stopped on return.

    ``body_path`` is the TF-Serving body; the other protocols' bodies are derived from it."""
    bodies = {run.spec.key: protocols.body_file(run.spec.protocol, body_path) for run in runs}
    live: dict[str, RunningServer] = {}
    with contextlib.ExitStack() as stack:
        for run in runs:
            body = bodies[run.spec.key].read_bytes()
            try:
                server = stack.enter_context(servers.start(run.spec, body, log_path(config, run.spec)))
            except (ServerFailed, OSError) as exc:
                run.failure = str(exc).splitlines()[0]
                log(f"{run.spec.label}: FAILED to start: {exc}")
                continue
            live[run.spec.key] = server
            run.first_prediction_s, run.digit = server.first_prediction_s, server.digit
            log(f"{run.spec.label}: first prediction after {server.first_prediction_s:.1f}s (digit {server.digit})")
        for round_index in range(config.repeat if runs else 0):
            order = runs[round_index % len(runs) :] + runs[: round_index % len(runs)]
            for concurrency in config.concurrencies:
                for run in order:
                    if run.failure:
                        continue
                    try:
                        result = warm_then_measure(config, live[run.spec.key], bodies[run.spec.key], concurrency, wrk)
                    except (ServerFailed, RuntimeError, OSError) as exc:
                        run.failure = str(exc).splitlines()[0]
                        log(f"{run.spec.label}: FAILED at c={concurrency}: {exc}")
                        continue
                    run.raw.append(result)
                    log(
                        f"round {round_index + 1}/{config.repeat} c={concurrency:<3d} {run.spec.label:<24s}"
                        f"{result.rps:9.1f} req/s  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
                        f"errors {result.errors}  peak RSS {result.peak_rss_bytes / 2**20:.0f} MiB"
                    )
    for run in runs:
        by_concurrency = [[r for r in run.raw if r.concurrency == c] for c in config.concurrencies]
        run.loads = [load.median_of(results) for results in by_concurrency if results]


def log_path(config: Config, spec: ServerSpec) -> Path:
    """Where a server's stdout and stderr go."""
    return config.work_dir / "logs" / f"{spec.key}.log"
