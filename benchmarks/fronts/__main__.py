"""``python -m benchmarks.fronts``: what the front door costs per request, with no model behind it.

One gunicorn worker per front, each serving ``benchmarks.fronts.apps.wsgi`` (reads the body, answers ``{}``), driven
in turn by wrk with the benchmark's 9.5 kB request body at 32 connections, ``--rounds`` times, interleaved. Prints
req/s and the server's CPU milliseconds per request (from /proc, so the load generator's CPU is not counted).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import time
from pathlib import Path

from benchmarks import load, procs, servers

FRONTS = {
    "ours (app.web.front, asyncio worker)": ("asgi", "benchmarks.fronts.apps:ours()"),
    "gunicorn gthread, 8 threads": ("gthread", "benchmarks.fronts.apps:wsgi"),
    "a2wsgi (asyncio worker)": ("asgi", "benchmarks.fronts.apps:a2wsgi()"),
}


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fronts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per run")
    parser.add_argument("--work-dir", type=Path, default=servers.ROOT / "build" / "benchmarks")
    args = parser.parse_args(argv)
    wrk = load.find_wrk(install=True)
    body = args.work_dir / "body.json"
    if wrk is None or not body.exists():
        print("needs wrk and build/benchmarks/body.json (run python -m benchmarks.prepare build/benchmarks)")
        return 2
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in FRONTS}
    try:
        running = {}
        for name, (worker, target) in FRONTS.items():
            port = servers.free_port()
            command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "-k", worker]
            command += ["--threads", "8", "--asgi-lifespan", "off", target]
            log_path = args.work_dir / "logs" / f"front-{port}.log"
            running[name] = (procs.spawn(command, servers.base_env(), servers.ROOT, log_path), port)
        for _, port in running.values():
            wait_for_port(port)
        for _ in range(args.rounds):
            for name, (process, port) in running.items():
                before = procs.tree_cpu_seconds(process.pid)
                run = load.run_wrk(wrk, f"http://127.0.0.1:{port}/predict", body, 32, args.duration, 10.0)
                cpu_ms = (procs.tree_cpu_seconds(process.pid) - before) / max(run.requests, 1) * 1e3
                results[name].append((run.rps, cpu_ms))
    finally:
        procs.stop_all()
    print("| front | req/s (median) | server CPU ms per request (median) | runs |")
    print("|:--|--:|--:|:--|")
    for name, runs in results.items():
        rps, cpu = statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)
        shown = ", ".join(f"{r:.0f}/{c:.3f}" for r, c in runs)
        print(f"| {name} | {rps:.0f} | {cpu:.3f} | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
